/*
 * pki_acme_validate.c — challenge validation: http-01 (RFC 8555 section
 * 8.3) through net_fetch on the validator's own loop, dns-01 (section
 * 8.4) with res_nquery against the configured resolver, and tls-alpn-01
 * (RFC 8737) with a blocking OpenSSL handshake offering acme-tls/1; the
 * last two run on the validator's small thread pool.
 *
 * Invariants:
 *  - at most inflight_max validations at once (the slot is reserved by
 *    whoever queues one, released when its outcome is recorded);
 *  - every network step has a deadline (PKI_ACME_VALIDATION_TIMEOUT_MS)
 *    and every answer is read within a bound (HTTP body, DNS answer);
 *  - http-01 follows no redirect and speaks plain HTTP to port 80 (or the
 *    configured test port); tls-alpn-01 checks the negotiated protocol,
 *    the single SAN and the critical acmeIdentifier extension holding
 *    SHA-256 of the key authorization; dns-01 wants a TXT record equal to
 *    base64url(SHA-256(key authorization));
 *  - an outcome moves the challenge, its authorization and its order in
 *    one store transaction, then is audited and emitted.
 *
 * For tests, validation_addr connects to a fixed address instead of
 * resolving the identifier (http-01 still sends Host: identifier and
 * tls-alpn-01 still sends it as SNI).
 */
#include "pki/pki_acme_int.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <resolv.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "loop/loop.h"
#include "net/net.h"

static void *vloop_main(void *arg)
{
	struct pki_acme *a = arg;
	if (loop_run(a->vloop) < 0)
		log_warnx("pki acme: validator loop failed");
	return NULL;
}

static void requeue(void *arg, const struct acme_authz *z, const struct acme_chall *c,
		    const char *thumb)
{
	struct pki_acme *a = arg;
	struct acme_validation v = { .a = a, .type = c->type, .ip = z->ip };
	bw_snprintf(v.tenant, sizeof(v.tenant), "%s", z->tenant);
	memcpy(v.authz_id, z->id, sizeof(v.authz_id));
	memcpy(v.chall_id, c->id, sizeof(v.chall_id));
	bw_snprintf(v.ident, sizeof(v.ident), "%s", z->value);
	bw_snprintf(v.keyauth, sizeof(v.keyauth), "%s.%s", c->token, thumb);
	atomic_fetch_add(&a->inflight, 1);
	struct bw_err e;
	if (acme_validate(a, &v, &e) < 0)
		log_warnx("pki acme: challenge %s not re-queued: %s", c->id, e.msg);
}

int acme_validator_start(struct pki_acme *a, struct bw_err *err)
{
	struct bw_err e;
	a->vloop = loop_new(PKI_ACME_VALIDATIONS_HARD + 64, &e);
	if (!a->vloop)
		return bw_err_set(err, 500, PKI_MOD, "validator", "loop: %s", e.msg);
	a->fetch = net_fetch_new(a->vloop, a->inflight_max, &e);
	if (!a->fetch)
		return bw_err_set(err, 500, PKI_MOD, "validator", "fetch: %s", e.msg);
	if (pthread_create(&a->vthread, NULL, vloop_main, a) != 0)
		return bw_err_set(err, 500, PKI_MOD, "validator", "thread");
	a->vthread_started = true;
	/* challenges a previous run left processing */
	if (acme_db_processing(a, requeue, a, &e) < 0)
		log_warnx("pki acme: re-queueing validations: %s", e.msg);
	return 0;
}

void acme_validator_stop(struct pki_acme *a)
{
	if (a->vthread_started) {
		loop_stop(a->vloop);
		pthread_join(a->vthread, NULL);
		a->vthread_started = false;
	}
	/* the loop no longer runs: cancelling here is single-threaded */
	net_fetch_free(a->fetch);
	a->fetch = NULL;
	loop_free(a->vloop);
	a->vloop = NULL;
}

/* ------------------------------------------------------------- outcome */

static int vfail(struct acme_validation *v, const char *type, const char *fmt, ...)
	BW_PRINTF(3, 4);
static int vfail(struct acme_validation *v, const char *type, const char *fmt, ...)
{
	char msg[200];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		msg[0] = '\0';
	v->ok = false;
	return acme_fail(&v->err, 400, type, "%s", msg);
}

void acme_validation_record(struct acme_validation *v)
{
	struct pki_acme *a = v->a;
	struct bw_err e;
	int moved = acme_db_chall_finish(a, v->authz_id, v->chall_id, v->ok,
					 v->ok ? NULL : v->err.reason,
					 v->ok ? NULL : v->err.msg, &e);
	if (moved < 0) {
		log_warnx("pki acme: recording challenge %s: %s", v->chall_id, e.msg);
	} else if (moved > 0) {
		atomic_fetch_add(v->ok ? &a->validations_ok : &a->validations_failed, 1);
		char details[320];
		bw_snprintf(details, sizeof(details),
			    "{\"authz\":\"%s\",\"type\":\"%s\",\"identifier\":\"%.200s\","
			    "\"error\":\"%s\"}", v->authz_id, acme_chall_name(v->type),
			    v->ident, v->ok ? "" : v->err.reason);
		(void)acme_audit(a, v->tenant, NULL, NULL, NULL,
				 v->ok ? "pki.acme.challenge.valid" :
					 "pki.acme.challenge.invalid",
				 v->chall_id, v->ok, details);
		pki_emit(v->ok ? "acme-challenge-valid" : "acme-challenge-invalid", v->tenant,
			 v->ok, v->ok ? "ACME challenge validated" : v->err.msg, "identifier",
			 v->ident, "type", acme_chall_name(v->type));
	}
	atomic_fetch_sub(&a->inflight, 1);
}

static void record_work(void *arg)
{
	struct acme_validation *v = arg;
	acme_validation_record(v);
	free(v);
}

static void finish_async(struct acme_validation *v)
{
	if (tpool_submit(v->a->vpool, record_work, NULL, v, NULL) < 0) {
		/* the queue is sized for every in-flight validation; if it is
		 * full anyway, record here rather than lose the outcome */
		record_work(v);
	}
}

/* ------------------------------------------------------------- http-01 */

bool acme_http01_body_ok(const char *keyauth, const char *body, size_t len)
{
	while (len > 0 && (body[len - 1] == ' ' || body[len - 1] == '\t' ||
			   body[len - 1] == '\r' || body[len - 1] == '\n'))
		len--;
	return bw_ct_equal(keyauth, strlen(keyauth), body, len);
}

static void http_done(void *arg, const struct net_fetch_result *r)
{
	struct acme_validation *v = arg;
	if (r->error && strcmp(r->error, "cancelled") == 0) {
		/* shutting down: the challenge stays processing for the next
		 * start */
		atomic_fetch_sub(&v->a->inflight, 1);
		free(v);
		return;
	}
	if (r->error)
		vfail(v, "connection", "fetching the http-01 resource of %.100s: %.80s",
		      v->ident, r->error);
	else if (r->status != 200)
		vfail(v, "unauthorized", "the http-01 resource of %.100s answered %d",
		      v->ident, r->status);
	else if (!acme_http01_body_ok(v->keyauth, r->body.p, r->body.len))
		vfail(v, "incorrectResponse",
		      "the http-01 resource of %.100s is not the key authorization",
		      v->ident);
	else
		v->ok = true;
	finish_async(v);
}

static void http_start(void *arg)
{
	struct acme_validation *v = arg;
	struct pki_acme *a = v->a;
	const char *host = a->vaddr[0] ? a->vaddr : v->ident;
	bool v6 = strchr(host, ':') != NULL;
	char urlbuf[PKI_ACME_URL_MAX + 64], hosthdr[PKI_DNS_NAME_MAX + 64];
	const char *token = v->keyauth; /* token is the part before the '.' */
	size_t tl = strcspn(token, ".");
	bw_snprintf(urlbuf, sizeof(urlbuf), "http://%s%s%s:%u/.well-known/acme-challenge/%.*s",
		    v6 ? "[" : "", host, v6 ? "]" : "", (unsigned)a->http01_port, (int)tl,
		    token);
	bool ident_v6 = v->ip && strchr(v->ident, ':');
	if (a->http01_port == 80)
		bw_snprintf(hosthdr, sizeof(hosthdr), "Host: %s%s%s", ident_v6 ? "[" : "",
			    v->ident, ident_v6 ? "]" : "");
	else
		bw_snprintf(hosthdr, sizeof(hosthdr), "Host: %s%s%s:%u", ident_v6 ? "[" : "",
			    v->ident, ident_v6 ? "]" : "", (unsigned)a->http01_port);
	const char *hdrs[] = { hosthdr, "Accept: */*", NULL };
	struct net_fetch_request req = {
		.method = "GET",
		.url = urlbuf,
		.headers = hdrs,
		.timeout_ms = PKI_ACME_VALIDATION_TIMEOUT_MS,
		.max_response = PKI_ACME_HTTP01_BODY_MAX,
	};
	struct bw_err e;
	if (net_fetch_start(a->fetch, &req, http_done, v, &e) < 0) {
		vfail(v, "connection", "cannot start the http-01 request: %.100s", e.msg);
		finish_async(v);
	}
}

/* ------------------------------------------------------------- dns-01 */

static void expected_digest(const char *keyauth, uint8_t d[32])
{
	crypto_sha256(keyauth, strlen(keyauth), d);
}

void acme_check_dns01(struct acme_validation *v)
{
	struct pki_acme *a = v->a;
	char want[48];
	uint8_t d[32];
	expected_digest(v->keyauth, d);
	crypto_b64url_encode_to(d, sizeof(d), want);
	char name[PKI_DNS_NAME_MAX + 32];
	if (bw_snprintf(name, sizeof(name), "_acme-challenge.%s", v->ident) < 0) {
		vfail(v, "dns", "name too long");
		return;
	}
	struct __res_state rs;
	memset(&rs, 0, sizeof(rs));
	if (res_ninit(&rs) < 0) {
		vfail(v, "dns", "resolver initialisation failed");
		return;
	}
	rs.retrans = 2;
	rs.retry = 2;
	rs.options &= ~(unsigned long)(RES_DNSRCH | RES_DEFNAMES);
	if (a->dns_addr[0]) {
		struct sockaddr_in sin = { .sin_family = AF_INET,
					   .sin_port = htons(a->dns_port) };
		if (inet_pton(AF_INET, a->dns_addr, &sin.sin_addr) != 1) {
			/* IPv6 resolvers need the glibc extension fields;
			 * configure an IPv4 address */
			res_nclose(&rs);
			vfail(v, "dns", "the configured resolver is not IPv4");
			return;
		}
		rs.nscount = 1;
		rs.nsaddr_list[0] = sin;
	}
	uint8_t ans[PKI_ACME_DNS_ANSWER_MAX];
	int n = res_nquery(&rs, name, ns_c_in, ns_t_txt, ans, sizeof(ans));
	int herr = rs.res_h_errno;
	res_nclose(&rs);
	if (n < 0) {
		if (herr == HOST_NOT_FOUND || herr == NO_DATA)
			vfail(v, "unauthorized", "no TXT record at %.200s", name);
		else
			vfail(v, "dns", "looking up %.200s failed", name);
		return;
	}
	ns_msg msg;
	if (ns_initparse(ans, n, &msg) < 0) {
		vfail(v, "dns", "unreadable DNS answer for %.200s", name);
		return;
	}
	int count = ns_msg_count(msg, ns_s_an);
	bool seen = false;
	for (int i = 0; i < count && i < PKI_ACME_DNS_TXT_MAX; i++) {
		ns_rr rr;
		if (ns_parserr(&msg, ns_s_an, i, &rr) < 0)
			break;
		if (ns_rr_type(rr) != ns_t_txt || ns_rr_class(rr) != ns_c_in)
			continue;
		seen = true;
		/* one or more character-strings, concatenated */
		const uint8_t *p = ns_rr_rdata(rr);
		size_t left = ns_rr_rdlen(rr), tl = 0;
		char txt[256 * 4];
		bool ok = true;
		while (left > 0 && ok) {
			size_t l = p[0];
			if (l + 1 > left || tl + l >= sizeof(txt)) {
				ok = false;
				break;
			}
			memcpy(txt + tl, p + 1, l);
			tl += l;
			p += l + 1;
			left -= l + 1;
		}
		if (ok && bw_ct_equal(txt, tl, want, strlen(want))) {
			v->ok = true;
			return;
		}
	}
	vfail(v, seen ? "incorrectResponse" : "unauthorized",
	      seen ? "no TXT record at %.200s holds the expected digest" :
		     "no TXT record at %.200s", name);
}

/* ------------------------------------------------------------- tls-alpn-01 */

/* A connected TCP socket to host:port within the deadline, or -1. */
static int connect_to(const char *host, uint16_t port, char *why, size_t cap)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC };
	struct addrinfo *res = NULL;
	char ps[8];
	bw_snprintf(ps, sizeof(ps), "%u", (unsigned)port);
	int gr = getaddrinfo(host, ps, &hints, &res);
	if (gr != 0) {
		bw_snprintf(why, cap, "cannot resolve: %s", gai_strerror(gr));
		return -1;
	}
	int fd = -1;
	for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    ai->ai_protocol);
		if (fd < 0)
			continue;
		int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
		if (rc < 0 && errno == EINPROGRESS) {
			struct pollfd pf = { .fd = fd, .events = POLLOUT };
			int soerr = 0;
			socklen_t sl = sizeof(soerr);
			if (poll(&pf, 1, PKI_ACME_VALIDATION_TIMEOUT_MS) == 1 &&
			    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
				rc = 0;
			else
				errno = soerr ? soerr : ETIMEDOUT;
		}
		if (rc < 0) {
			bw_snprintf(why, cap, "connect: %s", strerror(errno));
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd >= 0) {
		int fl = fcntl(fd, F_GETFL);
		struct timeval tv = { .tv_sec = PKI_ACME_VALIDATION_TIMEOUT_MS / 1000 };
		if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0 ||
		    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
		    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
			close(fd);
			bw_snprintf(why, cap, "socket options");
			return -1;
		}
	}
	return fd;
}

/* The RFC 8738 section 6 reverse name of an IP identifier, for SNI. */
static int reverse_name(const char *ip, char *out, size_t cap)
{
	uint8_t b[16];
	size_t o = 0;
	if (inet_pton(AF_INET, ip, b) == 1) {
		return bw_snprintf(out, cap, "%u.%u.%u.%u.in-addr.arpa", b[3], b[2], b[1],
				   b[0]) < 0 ? -1 : 0;
	}
	if (inet_pton(AF_INET6, ip, b) != 1)
		return -1;
	static const char hx[] = "0123456789abcdef";
	for (int i = 15; i >= 0; i--) {
		if (o + 4 >= cap)
			return -1;
		out[o++] = hx[b[i] & 15];
		out[o++] = '.';
		out[o++] = hx[b[i] >> 4];
		out[o++] = '.';
	}
	return bw_snprintf(out + o, cap - o, "ip6.arpa") < 0 ? -1 : 0;
}

/* The certificate names exactly the identifier, once, and nothing else. */
static bool san_is(X509 *x, const struct acme_validation *v)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	bool ok = gens && sk_GENERAL_NAME_num(gens) == 1;
	if (ok) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, 0);
		if (v->ip) {
			uint8_t b[16];
			size_t l = strchr(v->ident, ':') ? 16 : 4;
			ok = g->type == GEN_IPADD &&
			     inet_pton(l == 16 ? AF_INET6 : AF_INET, v->ident, b) == 1 &&
			     ASN1_STRING_length(g->d.iPAddress) == (int)l &&
			     memcmp(ASN1_STRING_get0_data(g->d.iPAddress), b, l) == 0;
		} else {
			ok = g->type == GEN_DNS &&
			     (size_t)ASN1_STRING_length(g->d.dNSName) == strlen(v->ident) &&
			     strncasecmp((const char *)ASN1_STRING_get0_data(g->d.dNSName),
					 v->ident, strlen(v->ident)) == 0;
		}
	}
	GENERAL_NAMES_free(gens);
	return ok;
}

void acme_check_tlsalpn01(struct acme_validation *v)
{
	struct pki_acme *a = v->a;
	char why[160] = "";
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	X509 *peer = NULL;
	ASN1_OBJECT *oid = NULL;
	const char *host = a->vaddr[0] ? a->vaddr : v->ident;
	int fd = connect_to(host, a->tlsalpn01_port, why, sizeof(why));
	if (fd < 0) {
		vfail(v, "connection", "tls-alpn-01 to %.100s: %s", v->ident, why);
		return;
	}
	char sni[PKI_DNS_NAME_MAX + 1];
	if (v->ip ? reverse_name(v->ident, sni, sizeof(sni)) < 0 :
		    bw_snprintf(sni, sizeof(sni), "%s", v->ident) < 0) {
		vfail(v, "malformed", "bad identifier");
		goto out;
	}
	static const unsigned char alpn[] = "\x0a" "acme-tls/1";
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1) != 0) {
		vfail(v, "serverInternal", "TLS client setup failed");
		goto out;
	}
	/* the certificate is self-signed by design: trust comes from the
	 * extension's digest, not from a chain */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	ssl = SSL_new(ctx);
	if (!ssl || SSL_set_fd(ssl, fd) != 1 || SSL_set_tlsext_host_name(ssl, sni) != 1) {
		vfail(v, "serverInternal", "TLS client setup failed");
		goto out;
	}
	if (SSL_connect(ssl) != 1) {
		unsigned long e = ERR_peek_last_error();
		vfail(v, "tls", "TLS handshake with %.100s failed: %.80s", v->ident,
		      e ? ERR_reason_error_string(e) : "connection closed");
		goto out;
	}
	const unsigned char *sel = NULL;
	unsigned sl = 0;
	SSL_get0_alpn_selected(ssl, &sel, &sl);
	if (sl != 10 || memcmp(sel, "acme-tls/1", 10) != 0) {
		vfail(v, "tls", "%.100s did not negotiate acme-tls/1", v->ident);
		goto out;
	}
	peer = SSL_get1_peer_certificate(ssl);
	if (!peer) {
		vfail(v, "tls", "%.100s sent no certificate", v->ident);
		goto out;
	}
	if (!san_is(peer, v)) {
		vfail(v, "unauthorized",
		      "the tls-alpn-01 certificate must name exactly %.100s", v->ident);
		goto out;
	}
	oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
	int idx = oid ? X509_get_ext_by_OBJ(peer, oid, -1) : -1;
	X509_EXTENSION *ext = idx >= 0 ? X509_get_ext(peer, idx) : NULL;
	if (!ext || X509_get_ext_by_OBJ(peer, oid, idx) >= 0) {
		vfail(v, "unauthorized", "the certificate needs one acmeIdentifier extension");
		goto out;
	}
	if (!X509_EXTENSION_get_critical(ext)) {
		vfail(v, "unauthorized", "the acmeIdentifier extension must be critical");
		goto out;
	}
	/* extnValue holds a DER OCTET STRING of the 32-byte digest */
	uint8_t want[34] = { 0x04, 0x20 };
	expected_digest(v->keyauth, want + 2);
	const ASN1_OCTET_STRING *val = X509_EXTENSION_get_data(ext);
	if (!bw_ct_equal(ASN1_STRING_get0_data(val), (size_t)ASN1_STRING_length(val), want,
			 sizeof(want))) {
		vfail(v, "incorrectResponse",
		      "the acmeIdentifier digest is not the key authorization's");
		goto out;
	}
	v->ok = true;
out:
	ERR_clear_error();
	ASN1_OBJECT_free(oid);
	X509_free(peer);
	SSL_free(ssl); /* no close_notify: the peer's answer is all we wanted */
	SSL_CTX_free(ctx);
	close(fd);
}

static void blocking_work(void *arg)
{
	struct acme_validation *v = arg;
	if (v->type == ACME_CH_DNS01)
		acme_check_dns01(v);
	else
		acme_check_tlsalpn01(v);
	acme_validation_record(v);
	free(v);
}

int acme_validate(struct pki_acme *a, const struct acme_validation *in,
		  struct bw_err *err)
{
	struct acme_validation *v = malloc(sizeof(*v));
	if (!v) {
		atomic_fetch_sub(&a->inflight, 1);
		return acme_fail(err, 500, "serverInternal", "out of memory");
	}
	*v = *in;
	v->a = a;
	v->ok = false;
	bw_err_clear(&v->err);
	atomic_fetch_add(&a->validations_started, 1);
	int rc;
	if (v->type == ACME_CH_HTTP01)
		rc = loop_post(a->vloop, http_start, v);
	else
		rc = tpool_submit(a->vpool, blocking_work, NULL, v, NULL);
	if (rc < 0) {
		/* a validation we cannot run fails rather than hangs */
		vfail(v, "serverInternal", "the validator is overloaded");
		acme_validation_record(v);
		free(v);
	}
	return 0;
}
