/*
 * Forwarding headers and the request head sent upstream: who the client
 * is (X-Forwarded-For / RFC 7239 Forwarded behind trusted proxies), which
 * headers are hop-by-hop (RFC 9110 §7.6.1), and the head the upstream
 * receives.
 *
 * Invariants:
 *  - a client that is not a trusted proxy never influences the client
 *    address or the forwarding headers the upstream sees: its
 *    X-Forwarded-*, Forwarded and X-Real-IP are dropped and replaced;
 *  - hop-by-hop headers, including every name a Connection header lists,
 *    never cross the gateway in either direction;
 *  - the upstream head is built only through the http writers, which
 *    refuse CR, LF and other CTLs, so nothing can be injected into it;
 *  - at most GW_MAX_FORWARD_HOPS chain entries are examined.
 */
#include "gateway/gateway_int.h"
#include "http/http_limits.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ nodes */

static bool is_digits(struct bw_str s)
{
	if (s.len == 0 || s.len > 5)
		return false;
	for (size_t i = 0; i < s.len; i++)
		if (s.p[i] < '0' || s.p[i] > '9')
			return false;
	return true;
}

int gw_node_addr(struct bw_str node, struct gw_ip *out)
{
	if (node.len == 0)
		return -1;
	if (node.p[0] == '[') {
		const char *end = memchr(node.p, ']', node.len);
		if (!end)
			return -1;
		size_t inner = (size_t)(end - node.p) - 1;
		size_t after = node.len - inner - 2;
		if (after > 0 && (end[1] != ':' ||
				  !is_digits(bw_str_make(end + 2, after - 1))))
			return -1;
		struct gw_ip ip;
		/* brackets hold IPv6 text only */
		if (!memchr(node.p + 1, ':', inner) || gw_ip_parse(node.p + 1, inner, &ip) < 0)
			return -1;
		*out = ip;
		return 0;
	}
	const char *c1 = memchr(node.p, ':', node.len);
	if (c1 && !memchr(c1 + 1, ':', node.len - (size_t)(c1 - node.p) - 1)) {
		/* exactly one colon: IPv4 with a port */
		if (!is_digits(bw_str_make(c1 + 1, node.len - (size_t)(c1 - node.p) - 1)))
			return -1;
		node.len = (size_t)(c1 - node.p);
		struct gw_ip ip;
		if (gw_ip_parse(node.p, node.len, &ip) < 0 || !ip.v4)
			return -1;
		*out = ip;
		return 0;
	}
	return gw_ip_parse(node.p, node.len, out);
}

/* ------------------------------------------------------------ Forwarded */

static bool tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void skip_ows(struct bw_str *s)
{
	while (s->len && (s->p[0] == ' ' || s->p[0] == '\t')) {
		s->p++;
		s->len--;
	}
}

int gw_forwarded_next(struct bw_str *rest, struct bw_str *for_value)
{
	*for_value = bw_str_make("", 0);
	/* skip empty list elements */
	for (;;) {
		skip_ows(rest);
		if (rest->len && rest->p[0] == ',') {
			rest->p++;
			rest->len--;
			continue;
		}
		break;
	}
	if (rest->len == 0)
		return 0;
	/* pairs until ',' or the end */
	for (;;) {
		skip_ows(rest);
		if (rest->len == 0)
			return 1;
		if (rest->p[0] == ',') {
			rest->p++;
			rest->len--;
			return 1;
		}
		if (rest->p[0] == ';') { /* empty pair */
			rest->p++;
			rest->len--;
			continue;
		}
		size_t n = 0;
		while (n < rest->len && tchar(rest->p[n]))
			n++;
		if (n == 0 || n == rest->len || rest->p[n] != '=')
			return -1;
		struct bw_str name = bw_str_make(rest->p, n);
		rest->p += n + 1;
		rest->len -= n + 1;
		struct bw_str val;
		if (rest->len && rest->p[0] == '"') {
			size_t i = 1;
			while (i < rest->len && rest->p[i] != '"') {
				if (rest->p[i] == '\\')
					i++; /* quoted-pair */
				i++;
			}
			if (i >= rest->len)
				return -1;
			val = bw_str_make(rest->p + 1, i - 1);
			rest->p += i + 1;
			rest->len -= i + 1;
		} else {
			size_t k = 0;
			while (k < rest->len && tchar(rest->p[k]))
				k++;
			if (k == 0)
				return -1;
			val = bw_str_make(rest->p, k);
			rest->p += k;
			rest->len -= k;
		}
		if (bw_str_caseeq_lit(name, "for"))
			*for_value = val;
		skip_ows(rest);
		if (rest->len == 0)
			return 1;
		if (rest->p[0] == ';') {
			rest->p++;
			rest->len--;
			continue;
		}
		if (rest->p[0] == ',') {
			rest->p++;
			rest->len--;
			return 1;
		}
		return -1;
	}
}

/* ------------------------------------------------------------ client */

/* Collects the chain of a header family (all XFF lines, or the for=
 * values of all Forwarded lines) keeping the rightmost max entries.
 * A Forwarded syntax error cuts the chain at the point of the error:
 * only what follows it (further right) is believed. */
static size_t collect_chain(const struct http_request *req, bool forwarded,
			    struct bw_str *v, size_t max)
{
	size_t n = 0;
	const struct http_header *h = NULL;
	const char *name = forwarded ? "forwarded" : "x-forwarded-for";
	while ((h = http_header_next(req->headers, req->nheaders, name, h))) {
		struct bw_str rest = h->value, e;
		if (!forwarded) {
			while (http_list_next(&rest, &e)) {
				if (n == max) {
					memmove(v, v + 1, (max - 1) * sizeof(*v));
					n--;
				}
				v[n++] = e;
			}
			continue;
		}
		int rc;
		while ((rc = gw_forwarded_next(&rest, &e)) != 0) {
			if (rc < 0) {
				/* malformed: nothing to its left is trustworthy */
				v[0] = bw_str_make("", 0);
				n = 1;
				break;
			}
			if (n == max) {
				memmove(v, v + 1, (max - 1) * sizeof(*v));
				n--;
			}
			v[n++] = e;
		}
	}
	return n;
}

int gw_client_derive(const struct gw_cidr *trusted, size_t ntrusted,
		     const char *peer_ip, const struct http_request *req,
		     struct gw_client *out)
{
	memset(out, 0, sizeof(*out));
	if (gw_ip_parse(peer_ip, strlen(peer_ip), &out->ip) < 0)
		return -1;
	out->peer_trusted = gw_cidr_list_match(trusted, ntrusted, &out->ip);
	if (out->peer_trusted) {
		struct bw_str chain[GW_MAX_FORWARD_HOPS];
		size_t n = collect_chain(req, false, chain, GW_MAX_FORWARD_HOPS);
		if (n == 0)
			n = collect_chain(req, true, chain, GW_MAX_FORWARD_HOPS);
		for (size_t i = n; i-- > 0;) {
			struct gw_ip ip;
			if (gw_node_addr(chain[i], &ip) < 0)
				break; /* the hop before stays the client */
			out->ip = ip;
			if (!gw_cidr_list_match(trusted, ntrusted, &ip))
				break;
		}
	}
	gw_ip_format(&out->ip, out->ip_text, sizeof(out->ip_text));
	return 0;
}

/* ------------------------------------------------------------ hop-by-hop */

void gw_hop_collect(const struct http_header *h, size_t n, struct gw_hop *out)
{
	memset(out, 0, sizeof(*out));
	const struct http_header *c = NULL;
	while ((c = http_header_next(h, n, "connection", c))) {
		struct bw_str rest = c->value, e;
		while (http_list_next(&rest, &e)) {
			if (out->nlisted == BW_ARRAY_LEN(out->listed)) {
				out->overflow = true;
				continue;
			}
			out->listed[out->nlisted++] = e;
		}
	}
}

static bool caseeq(struct bw_str a, struct bw_str b)
{
	if (a.len != b.len)
		return false;
	for (size_t i = 0; i < a.len; i++) {
		char x = a.p[i], y = b.p[i];
		if (x >= 'A' && x <= 'Z')
			x = (char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (char)(y - 'A' + 'a');
		if (x != y)
			return false;
	}
	return true;
}

static const char *const hop_fixed[] = {
	"connection", "keep-alive", "te", "trailer", "transfer-encoding",
	"upgrade", NULL,
};

/* Names every gateway-aware client header set gets replaced for. */
static bool is_end_to_end_known(struct bw_str name)
{
	static const char *const common[] = {
		"host", "content-length", "content-type", "x-request-id",
		"date", "accept", "user-agent", "cookie", "authorization", NULL,
	};
	for (size_t i = 0; common[i]; i++)
		if (bw_str_caseeq_lit(name, common[i]))
			return true;
	return false;
}

bool gw_hop_is(const struct gw_hop *hop, struct bw_str name)
{
	for (size_t i = 0; hop_fixed[i]; i++)
		if (bw_str_caseeq_lit(name, hop_fixed[i]))
			return true;
	if (name.len >= 6 && caseeq(bw_str_make(name.p, 6), BW_STR("proxy-")))
		return true;
	for (size_t i = 0; i < hop->nlisted; i++)
		if (caseeq(hop->listed[i], name))
			return true;
	/* Past 32 listed names we cannot tell: drop whatever is not one of
	 * the common end-to-end headers rather than forward a hop header. */
	return hop->overflow && !is_end_to_end_known(name);
}

bool gw_resp_header_skip(const struct gw_hop *hop, struct bw_str name)
{
	static const char *const own[] = { "content-length", "date",
					   "content-type", "x-request-id", NULL };
	for (size_t i = 0; own[i]; i++)
		if (bw_str_caseeq_lit(name, own[i]))
			return true;
	return gw_hop_is(hop, name);
}

/* ------------------------------------------------------------ request */

static bool replaced_header(struct bw_str name)
{
	static const char *const names[] = {
		"host", "content-length", "x-forwarded-for", "x-forwarded-proto",
		"x-forwarded-host", "x-forwarded-port", "forwarded", "x-real-ip",
		"x-request-id", "expect", NULL,
	};
	for (size_t i = 0; names[i]; i++)
		if (bw_str_caseeq_lit(name, names[i]))
			return true;
	/* X-Bulwark-* is the gateway's own namespace (the signed identity
	 * headers): a client can never send one upstream. */
	static const char pfx[] = "x-bulwark-";
	if (name.len >= sizeof(pfx) - 1) {
		for (size_t i = 0; i < sizeof(pfx) - 1; i++) {
			char ch = name.p[i];
			if (ch >= 'A' && ch <= 'Z')
				ch = (char)(ch + 32);
			if (ch != pfx[i])
				return false;
		}
		return true;
	}
	return false;
}

/* Joins every line of header `name` with ", " into out (bounded); false
 * when there is none or it would not fit. */
static bool join_header(const struct http_request *req, const char *name,
			struct bw_buf *out)
{
	const struct http_header *h = NULL;
	bool any = false;
	while ((h = http_header_next(req->headers, req->nheaders, name, h))) {
		if (h->value.len == 0)
			continue;
		if ((any && bw_buf_append(out, ", ", 2) < 0) ||
		    bw_buf_append(out, h->value.p, h->value.len) < 0) {
			bw_buf_reset(out);
			return false;
		}
		any = true;
	}
	return any;
}

static int write_forwarded(struct bw_buf *out, const struct http_request *req,
			   const struct gw_fwd_opts *o, struct bw_err *err)
{
	char vbuf[GW_MAX_FORWARD_VALUE + 1];
	struct bw_buf v = { .data = vbuf, .cap = sizeof(vbuf), .max = GW_MAX_FORWARD_VALUE };
	bool trusted = o->client->peer_trusted;
	int rc = 0;

	/* X-Forwarded-For: a trusted proxy's chain plus the peer; anyone
	 * else's chain is replaced by the peer alone. */
	if (!(trusted && join_header(req, "x-forwarded-for", &v) &&
	      bw_buf_append(&v, ", ", 2) == 0))
		bw_buf_reset(&v);
	if (bw_buf_append_str(&v, o->peer_ip) < 0)
		return bw_err_set(err, 500, "gateway", "forward_too_long",
				  "X-Forwarded-For too long");
	rc |= http_write_header(out, BW_STR("X-Forwarded-For"),
				bw_str_make(v.data, v.len), err);

	bw_buf_reset(&v);
	if (!(trusted && join_header(req, "x-forwarded-proto", &v)) &&
	    bw_buf_append_str(&v, o->tls ? "https" : "http") < 0)
		return bw_err_set(err, 500, "gateway", "forward_too_long", "no room");
	rc |= http_write_header(out, BW_STR("X-Forwarded-Proto"),
				bw_str_make(v.data, v.len), err);

	bw_buf_reset(&v);
	if (!(trusted && join_header(req, "x-forwarded-host", &v)) &&
	    bw_buf_append(&v, req->host.p, req->host.len) < 0)
		return bw_err_set(err, 500, "gateway", "forward_too_long",
				  "X-Forwarded-Host too long");
	if (v.len)
		rc |= http_write_header(out, BW_STR("X-Forwarded-Host"),
					bw_str_make(v.data, v.len), err);

	if (o->send_forwarded) {
		bw_buf_reset(&v);
		if (!(trusted && join_header(req, "forwarded", &v) &&
		      bw_buf_append(&v, ", ", 2) == 0))
			bw_buf_reset(&v);
		bool v6 = strchr(o->peer_ip, ':') != NULL;
		int r2 = bw_buf_printf(&v, v6 ? "for=\"[%s]\";proto=%s" : "for=%s;proto=%s",
				       o->peer_ip, o->tls ? "https" : "http");
		/* host is already a validated authority: quote it, since ':'
		 * is not a token character */
		if (r2 == 0 && req->host.len && !memchr(req->host.p, '"', req->host.len) &&
		    !memchr(req->host.p, '\\', req->host.len))
			r2 = bw_buf_printf(&v, ";host=\"%.*s\"", (int)req->host.len,
					   req->host.p);
		if (r2 < 0)
			return bw_err_set(err, 500, "gateway", "forward_too_long",
					  "Forwarded too long");
		rc |= http_write_header(out, BW_STR("Forwarded"),
					bw_str_make(v.data, v.len), err);
	}
	return rc ? -1 : 0;
}

int gw_build_request(struct bw_buf *out, const struct http_request *req,
		     const struct gw_fwd_opts *o, struct bw_err *err)
{
	struct bw_str target = req->target;
	if (req->form == HTTP_TARGET_ABSOLUTE) {
		/* origin-form towards the upstream: path and query. An empty
		 * path is the codec's static "/" literal, outside the target. */
		bool inside = req->path.p >= req->target.p &&
			      req->path.p < req->target.p + req->target.len;
		if (inside) {
			target = bw_str_make(req->path.p,
					     (size_t)(req->target.p + req->target.len -
						      req->path.p));
		} else if (!req->has_query) {
			target = BW_STR("/");
		} else {
			/* "/?query": rare (absolute form without a path), so a
			 * heap copy rather than a 64 KB buffer in every thread */
			if (req->query.len + 2 > HTTP_MAX_URI + 2)
				return bw_err_set(err, 414, "gateway", "uri_too_long",
						  "target too long");
			char *tb = malloc(req->query.len + 2);
			if (!tb)
				return bw_err_set(err, 500, "gateway", "memory", "out of memory");
			tb[0] = '/';
			tb[1] = '?';
			memcpy(tb + 2, req->query.p, req->query.len);
			int rc = http_write_request_line(out, req->method_str,
							 bw_str_make(tb, req->query.len + 2), err);
			free(tb);
			if (rc < 0)
				return -1;
			target = BW_STR("");
		}
	} else if (req->form == HTTP_TARGET_AUTHORITY) {
		return bw_err_set(err, 405, "gateway", "connect_not_supported",
				  "CONNECT is not proxied");
	}
	/* About the client's head plus what the gateway adds (Host,
	 * Forwarded, X-Request-Id, identity): one allocation, not a doubling
	 * from 64 bytes. Over the buffer's ceiling the writes below say so. */
	if (out->cap == 0 && bw_buf_reserve(out, req->head_len + 512) < 0) {
		/* left to the header writes' own head_too_large */
	}
	if (target.len && http_write_request_line(out, req->method_str, target, err) < 0)
		return -1;
	struct gw_hop hop;
	gw_hop_collect(req->headers, req->nheaders, &hop);
	if (http_write_header(out, BW_STR("Host"), o->host, err) < 0)
		return -1;
	for (size_t i = 0; i < req->nheaders; i++) {
		const struct http_header *h = &req->headers[i];
		if (gw_hop_is(&hop, h->name) || replaced_header(h->name))
			continue;
		if (http_write_header(out, h->name, h->value, err) < 0)
			return -1;
	}
	if (write_forwarded(out, req, o, err) < 0)
		return -1;
	if (o->request_id &&
	    http_write_header_lit(out, "X-Request-Id", o->request_id) < 0)
		return bw_err_set(err, 500, "gateway", "head_too_large",
				  "upstream request head too large");
	bool body_method = req->method == HTTP_METHOD_POST ||
			   req->method == HTTP_METHOD_PUT ||
			   req->method == HTTP_METHOD_PATCH;
	int rc = 0;
	if (o->body_chunked)
		rc = http_write_header_lit(out, "Transfer-Encoding", "chunked");
	else if (o->body_len > 0 || body_method)
		rc = http_write_content_length(out, o->body_len);
	if (o->websocket) /* the one upgrade passed on, named again */
		rc |= http_write_header_lit(out, "Connection", "Upgrade") |
		      http_write_header_lit(out, "Upgrade", "websocket");
	for (size_t i = 0; o->extra && i < o->nextra; i++)
		rc |= http_write_header(out, bw_str_make(o->extra[i].name, strlen(o->extra[i].name)),
					bw_str_make(o->extra[i].value, strlen(o->extra[i].value)),
					err);
	if (rc)
		return bw_err_set(err, 500, "gateway", "head_too_large",
				  "upstream request head too large");
	if (http_write_head_end(out) < 0)
		return bw_err_set(err, 500, "gateway", "head_too_large",
				  "upstream request head too large");
	return 0;
}
