/*
 * pki_http.c — the public, unauthenticated PKI endpoints as a net handler:
 * CA certificates (/ca/{ca}.crt), CRLs (/crl/{ca}.crl) and OCSP
 * (/ocsp/{ca}, POST and the RFC 6960 appendix A GET form).
 *
 * Invariants: the path is matched exactly (no normalisation: a CA id is
 * 16 lower-case hex characters, anything else is 404); every answer that
 * memory can give is given on the loop thread with one copy; OCSP
 * answers that need a signature go to the thread pool and the exchange
 * is answered from the completion; input is bounded before it is decoded.
 */
#include "pki/pki_int.h"

#include <string.h>

#include "loop/loop.h"
#include "net/net.h"

static bool ca_id_ok(const char *p, size_t n)
{
	if (n != PKI_ID_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	return true;
}

int pki_http_ocsp_get_decode(const char *p, size_t len, uint8_t *out,
			     size_t cap, size_t *outlen)
{
	/* percent-decoded, then base64 (standard or url alphabet, padding
	 * optional) */
	char b64[PKI_OCSP_GET_PATH_MAX + 4];
	size_t n = 0;
	if (len == 0 || len > PKI_OCSP_GET_PATH_MAX)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = p[i];
		if (c == '%') {
			if (i + 2 >= len)
				return -1;
			int h = bw_hex_digit(p[i + 1]), l = bw_hex_digit(p[i + 2]);
			if (h < 0 || l < 0)
				return -1;
			c = (char)(h << 4 | l);
			i += 2;
		}
		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '='))
			return -1;
		if (c == '=')
			continue; /* padding is re-added below */
		b64[n++] = c;
	}
	if (n % 4 == 1)
		return -1;
	size_t pad = (4 - n % 4) % 4;
	for (size_t i = 0; i < pad; i++)
		b64[n++] = '=';
	if (n / 4 * 3 > cap + 2)
		return -1;
	uint8_t tmp[PKI_OCSP_GET_PATH_MAX];
	int w = EVP_DecodeBlock(tmp, (const unsigned char *)b64, (int)n);
	if (w < 0 || (size_t)w < pad)
		return -1;
	size_t got = (size_t)w - pad;
	if (got > cap)
		return -1;
	memcpy(out, tmp, got);
	*outlen = got;
	return 0;
}

struct ocsp_job {
	struct pki *pki;
	struct net_exchange *x;
	char ca_id[PKI_ID_LEN + 1];
	uint8_t req[PKI_OCSP_REQ_MAX];
	size_t len;
	struct bw_buf out;
	int rc;
};

static void ocsp_work(void *arg)
{
	struct ocsp_job *j = arg;
	struct bw_err err;
	j->rc = pki_ocsp_respond(j->pki, j->ca_id, j->req, j->len, &j->out, &err);
	if (j->rc < 0)
		log_warnx("pki: OCSP for CA %s: %s", j->ca_id, err.msg);
}

static void ocsp_reply(struct net_exchange *x, const struct bw_buf *out)
{
	net_add_header(x, "Cache-Control", "max-age=3600, public, no-transform");
	net_respond(x, 200, "application/ocsp-response", out->data, out->len);
}

static void ocsp_done(void *arg)
{
	struct ocsp_job *j = arg;
	if (j->rc < 0)
		net_respond(j->x, 500, "text/plain", "internal error\n", 15);
	else
		ocsp_reply(j->x, &j->out);
	bw_buf_fini(&j->out);
	free(j);
}

static void serve_ocsp(struct pki_http *h, struct net_exchange *x,
		       const char *ca_id, const uint8_t *req, size_t len)
{
	struct bw_buf out;
	struct bw_err err;
	bw_buf_init(&out, 64 << 10);
	int rc = pki_ocsp_lookup(h->pki, ca_id, req, len, &out, &err);
	if (rc == 1) {
		ocsp_reply(x, &out);
		bw_buf_fini(&out);
		return;
	}
	bw_buf_fini(&out);
	if (rc < 0) {
		net_respond(x, 500, "text/plain", "internal error\n", 15);
		return;
	}
	struct ocsp_job *j = calloc(1, sizeof(*j));
	if (!j) {
		net_respond(x, 503, "text/plain", "overloaded\n", 11);
		return;
	}
	j->pki = h->pki;
	j->x = x;
	memcpy(j->ca_id, ca_id, PKI_ID_LEN + 1);
	memcpy(j->req, req, len);
	j->len = len;
	bw_buf_init(&j->out, 64 << 10);
	if (!h->pool) {
		ocsp_work(j);
		ocsp_done(j);
		return;
	}
	if (tpool_submit(h->pool, ocsp_work, ocsp_done, j, net_loop(x)) < 0) {
		bw_buf_fini(&j->out);
		free(j);
		net_set_outcome_reason(x, "pki_pool_full");
		net_respond(x, 503, "text/plain", "overloaded\n", 11);
	}
}

static void not_found(struct net_exchange *x)
{
	net_respond(x, 404, "text/plain", "not found\n", 10);
}

static bool prefix(struct bw_str s, const char *lit, struct bw_str *rest)
{
	size_t n = strlen(lit);
	if (s.len < n || memcmp(s.p, lit, n) != 0)
		return false;
	*rest = bw_str_make(s.p + n, s.len - n);
	return true;
}

static bool suffix(struct bw_str s, const char *lit, struct bw_str *head)
{
	size_t n = strlen(lit);
	if (s.len < n || memcmp(s.p + s.len - n, lit, n) != 0)
		return false;
	*head = bw_str_make(s.p, s.len - n);
	return true;
}

static void serve_file(struct pki_http *h, struct net_exchange *x, struct bw_str id,
		       bool crl)
{
	char cid[PKI_ID_LEN + 1];
	if (!ca_id_ok(id.p, id.len)) {
		not_found(x);
		return;
	}
	memcpy(cid, id.p, PKI_ID_LEN);
	cid[PKI_ID_LEN] = '\0';
	struct bw_buf out;
	struct bw_err err;
	bw_buf_init(&out, 256u << 20);
	int rc = crl ? pki_crl_get(h->pki, cid, &out, &err) :
		       pki_ca_cert_public(h->pki, cid, &out, &err);
	if (rc < 0) {
		bw_buf_fini(&out);
		not_found(x);
		return;
	}
	net_add_header(x, "Cache-Control", crl ? "max-age=300, public" :
						 "max-age=86400, public");
	net_respond(x, 200, crl ? "application/pkix-crl" : "application/pkix-cert",
		    out.data, out.len);
	bw_buf_fini(&out);
}

/* http-01 (RFC 8555 section 8.3) for bulwark's own ACME client: the key
 * authorization of a token it published, text/plain; anything else 404. */
static void serve_challenge(struct pki_http *h, struct net_exchange *x,
			    struct bw_str token)
{
	struct bw_buf out;
	bw_buf_init(&out, PKI_LCERT_TOKEN_MAX + 64);
	if (pki_lcert_challenge(h->lcert, token.p, token.len, &out) == 1)
		net_respond(x, 200, "text/plain", out.data, out.len);
	else
		not_found(x);
	bw_buf_fini(&out);
}

void pki_http_handle(struct net_exchange *x, void *arg)
{
	struct pki_http *h = arg;
	const struct http_request *r = net_request(x);
	struct bw_str rest, id;
	bool get = r->method == HTTP_METHOD_GET || r->method == HTTP_METHOD_HEAD;
	if (prefix(r->path, "/ca/", &rest) && suffix(rest, ".crt", &id)) {
		if (!get)
			goto method;
		serve_file(h, x, id, false);
		return;
	}
	if (prefix(r->path, "/.well-known/acme-challenge/", &rest)) {
		if (!get)
			goto method;
		serve_challenge(h, x, rest);
		return;
	}
	if (prefix(r->path, "/crl/", &rest) && suffix(rest, ".crl", &id)) {
		if (!get)
			goto method;
		serve_file(h, x, id, true);
		return;
	}
	if (prefix(r->path, "/ocsp/", &rest)) {
		if (rest.len < PKI_ID_LEN || !ca_id_ok(rest.p, PKI_ID_LEN)) {
			not_found(x);
			return;
		}
		char cid[PKI_ID_LEN + 1];
		memcpy(cid, rest.p, PKI_ID_LEN);
		cid[PKI_ID_LEN] = '\0';
		struct bw_str tail = bw_str_make(rest.p + PKI_ID_LEN, rest.len - PKI_ID_LEN);
		if (r->method == HTTP_METHOD_POST && tail.len == 0) {
			const struct http_header *ct =
				http_header_find(r->headers, r->nheaders, "content-type");
			if (!ct || !bw_str_caseeq_lit(ct->value, "application/ocsp-request")) {
				net_respond(x, 415, "text/plain",
					    "Content-Type must be application/ocsp-request\n", 47);
				return;
			}
			struct bw_str body = net_request_body(x);
			if (body.len > PKI_OCSP_REQ_MAX) {
				net_respond(x, 413, "text/plain", "request too large\n", 18);
				return;
			}
			serve_ocsp(h, x, cid, (const uint8_t *)body.p, body.len);
			return;
		}
		if (get && tail.len > 1 && tail.p[0] == '/') {
			uint8_t der[PKI_OCSP_REQ_MAX];
			size_t n;
			if (pki_http_ocsp_get_decode(tail.p + 1, tail.len - 1, der,
						     sizeof(der), &n) < 0) {
				/* RFC 6960: a request that cannot be read is
				 * answered malformedRequest, like a bad POST */
				serve_ocsp(h, x, cid, (const uint8_t *)"", 0);
				return;
			}
			serve_ocsp(h, x, cid, der, n);
			return;
		}
		if (tail.len == 0 || get)
			goto method;
		not_found(x);
		return;
	}
	not_found(x);
	return;
method:
	net_add_header(x, "Allow", r->path.len > 6 && memcmp(r->path.p, "/ocsp/", 6) == 0 ?
					   "GET, POST" : "GET, HEAD");
	net_respond(x, 405, "text/plain", "method not allowed\n", 19);
}
