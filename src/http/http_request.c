/*
 * http_request.c — the incremental HTTP/1.1 request-head parser (RFC 9112
 * §2-§3, §5-§6) and the request semantics a gateway needs before it may
 * forward anything: target form, Host, framing, persistence, Expect and
 * Upgrade.
 *
 * The request line is an explicit state machine over offsets; the field
 * section is http_fs_run(); semantic checks run once, when the head is
 * complete, over the stored fields. Every state keeps only offsets, so any
 * split of the input gives the same result.
 *
 * Invariants:
 *  - bytes scanned never exceed max_header_bytes (+ leading CRLFs): each
 *    loop is bounded by the nearest applicable limit;
 *  - an error is sticky: once set, every later feed returns it unchanged.
 */
#include "http/http_int.h"

#include <string.h>

enum {
	RL_START,    /* before the request line: optional empty lines */
	RL_START_LF, /* saw CR of an empty leading line */
	RL_METHOD,
	RL_TARGET,
	RL_VERSION,
	RL_LF, /* saw CR after the version */
	RL_FIELDS,
	RL_DONE,
	RL_ERROR,
};

void http_req_parser_init(struct http_req_parser *p,
			  const struct http_limits *lim,
			  struct http_header *hdrs, size_t cap)
{
	memset(p, 0, sizeof(*p));
	p->lim = lim;
	if (cap > lim->max_headers)
		cap = lim->max_headers;
	/* The field scanner is set up for real once the request line ends;
	 * park the array and cap in it now. */
	p->fs.hdrs = hdrs;
	p->fs.cap = hdrs ? cap : 0;
	p->state = RL_START;
}

static enum http_rc req_fail(struct http_req_parser *p, struct bw_err *err,
			     int status, const char *reason)
{
	p->state = RL_ERROR;
	p->err_status = status;
	p->err_reason = reason;
	return http_fail(err, status, reason);
}

/* Parse the version text "HTTP/x.y": 0 = ok (*minor set), 400 malformed,
 * 505 well-formed but not 1.0/1.1. */
static int parse_version(const char *v, size_t n, uint8_t *minor)
{
	if (n != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' ||
	    v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9')
		return 400;
	if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
		return 505;
	*minor = (uint8_t)(v[7] - '0');
	return 0;
}

/* Split the request-target by form (RFC 9112 §3.2). Returns 0 or -1. */
static int parse_target(struct http_request *r)
{
	struct bw_str t = r->target;
	const char *q;

	r->scheme = r->authority = r->path = r->query = bw_str_make(t.p, 0);
	r->has_query = false;

	if (r->method == HTTP_METHOD_CONNECT) {
		/* authority-form only, and it must name a port. */
		struct bw_str h;
		uint16_t port;
		bool has_port;
		if (http_authority_parse(t, &h, &port, &has_port) < 0 ||
		    !has_port)
			return -1;
		r->form = HTTP_TARGET_AUTHORITY;
		r->authority = t;
		return 0;
	}
	if (t.len == 1 && t.p[0] == '*') {
		if (r->method != HTTP_METHOD_OPTIONS)
			return -1;
		r->form = HTTP_TARGET_ASTERISK;
		return 0;
	}
	struct bw_str rest = t;
	if (t.p[0] == '/') {
		r->form = HTTP_TARGET_ORIGIN;
	} else {
		/* absolute-form: http(s)://authority[path][?query]. Other
		 * schemes and userinfo are refused: a gateway has no use for
		 * them and they confuse routing. */
		size_t sl;
		if (t.len > 7 && http_ieq(t.p, 7, "http://", 7))
			sl = 4;
		else if (t.len > 8 && http_ieq(t.p, 8, "https://", 8))
			sl = 5;
		else
			return -1;
		r->form = HTTP_TARGET_ABSOLUTE;
		r->scheme = bw_str_make(t.p, sl);
		const char *as = t.p + sl + 3;
		const char *end = t.p + t.len;
		const char *ae = as;
		while (ae < end && *ae != '/' && *ae != '?')
			ae++;
		r->authority = bw_str_make(as, (size_t)(ae - as));
		if (memchr(as, '@', (size_t)(ae - as)))
			return -1;
		struct bw_str h;
		uint16_t port;
		bool has_port;
		if (http_authority_parse(r->authority, &h, &port, &has_port) < 0)
			return -1;
		rest = bw_str_make(ae, (size_t)(end - ae));
	}
	q = memchr(rest.p, '?', rest.len);
	if (q) {
		r->path = bw_str_make(rest.p, (size_t)(q - rest.p));
		r->query = bw_str_make(q + 1, rest.len - r->path.len - 1);
		r->has_query = true;
	} else {
		r->path = rest;
	}
	if (r->path.len == 0)
		r->path = BW_STR("/");
	return 0;
}

static uint16_t default_port(struct bw_str scheme)
{
	return scheme.len == 5 ? 443 : 80;
}

/* Everything that needs the whole head. Returns 0 or -1 with status and
 * reason. Order matters only for which reason a message with several
 * faults gets; it is fixed, so results are reproducible. */
static int req_semantics(struct http_req_parser *p, struct http_request *r,
			 int *status, const char **reason)
{
	const struct http_limits *lim = p->lim;
	struct http_framing_info fi;

	if (parse_target(r) < 0) {
		*reason = "bad_request_target";
		return -1;
	}
	if (http_framing_scan(r->headers, r->nheaders, &fi, reason) < 0)
		return -1;

	if (fi.n_te > 0 && r->version_minor == 0) {
		/* RFC 9112 §6.1: TE in HTTP/1.0 is a smuggling signal. */
		*reason = "te_in_http10";
		return -1;
	}
	if (fi.n_te > 0 && fi.n_cl > 0) {
		*reason = "cl_and_te";
		return -1;
	}
	if (fi.n_te > 0) {
		if (fi.te_empty || fi.te_chunked > 1) {
			*reason = "bad_transfer_encoding";
			return -1;
		}
		if (!fi.te_last_chunked) {
			*reason = "te_not_chunked_last";
			return -1;
		}
		if (fi.te_other) {
			*status = 501;
			*reason = "unsupported_te";
			return -1;
		}
		r->framing = HTTP_FRAMING_CHUNKED;
	} else if (fi.n_cl > 0) {
		if (fi.content_length > lim->max_body) {
			*status = 413;
			*reason = "body_too_large";
			return -1;
		}
		r->framing = HTTP_FRAMING_LENGTH;
		r->content_length = fi.content_length;
	} else {
		r->framing = HTTP_FRAMING_NONE;
	}

	if (fi.n_host > 1) {
		*reason = "dup_host";
		return -1;
	}
	if (fi.n_host == 0 && r->version_minor == 1) {
		*reason = "missing_host";
		return -1;
	}
	bool has_port = false;
	if (fi.n_host == 1 && fi.host.len > 0) {
		if (http_authority_parse(fi.host, &r->host_name, &r->port,
					 &has_port) < 0) {
			*reason = "bad_host";
			return -1;
		}
		r->host = fi.host;
	} else {
		r->host = r->host_name = bw_str_make(fi.host.p, 0);
	}
	if (r->form == HTTP_TARGET_ABSOLUTE || r->form == HTTP_TARGET_AUTHORITY) {
		/* The target's authority wins (RFC 9112 §3.2.2); a Host that
		 * names another origin is an attempt to route one way and be
		 * logged or checked another. */
		struct bw_str th;
		uint16_t tport;
		bool thas;
		(void)http_authority_parse(r->authority, &th, &tport, &thas);
		uint16_t dp = r->form == HTTP_TARGET_ABSOLUTE
				      ? default_port(r->scheme)
				      : tport;
		if (!thas)
			tport = dp;
		if (fi.n_host == 1) {
			uint16_t hport = has_port ? r->port : dp;
			bool same = r->host_name.len == th.len &&
				    hport == tport;
			for (size_t i = 0; same && i < th.len; i++)
				if (http_lower[(unsigned char)th.p[i]] !=
				    http_lower[(unsigned char)r->host_name.p[i]])
					same = false;
			if (!same) {
				*reason = "host_mismatch";
				return -1;
			}
		}
		r->host = r->authority;
		r->host_name = th;
		r->port = thas ? tport : 0;
	}

	if (r->version_minor == 1) {
		if (fi.expect_other) {
			*status = 417;
			*reason = "unsupported_expect";
			return -1;
		}
		r->expect_continue = fi.expect_continue;
	}
	/* RFC 9112 §9.3: 1.1 persists unless "close"; 1.0 only with
	 * "keep-alive". */
	if (fi.conn_close)
		r->keep_alive = false;
	else
		r->keep_alive = r->version_minor == 1 || fi.conn_keep_alive;
	r->upgrade = fi.conn_upgrade && fi.has_upgrade;
	r->websocket = r->upgrade && fi.upgrade_websocket;
	return 0;
}

enum http_rc http_req_parser_feed(struct http_req_parser *p, const char *buf,
				  size_t len, struct http_request *r,
				  struct bw_err *err)
{
	const unsigned char *b = (const unsigned char *)buf;
	const struct http_limits *lim = p->lim;
	size_t pos = p->pos;
	int status = 400;
	const char *reason = NULL;

	if (p->state == RL_ERROR)
		return http_fail(err, p->err_status, p->err_reason);
	BW_ASSERT(p->state != RL_DONE);
	BW_ASSERT(len >= pos);
	if (p->base != (uintptr_t)buf) {
		if (p->base)
			http_fs_rebase(&p->fs, p->base, buf);
		p->base = (uintptr_t)buf;
	}

	while (p->state < RL_FIELDS) {
		if (pos >= len) {
			p->pos = pos;
			return HTTP_NEED_MORE;
		}
		switch (p->state) {
		case RL_START: {
			unsigned char c = b[pos];
			if (c == '\r' || c == '\n') {
				if (++p->empty_lines > lim->max_leading_crlf) {
					reason = "leading_empty_line";
					goto fail;
				}
				if (c == '\n' && !lim->allow_bare_lf) {
					reason = "bare_lf";
					goto fail;
				}
				pos++;
				if (c == '\r')
					p->state = RL_START_LF;
				break;
			}
			if (!http_is_tchar(c)) {
				reason = c == ' ' || c == '\t'
						 ? "leading_whitespace"
						 : "bad_method_char";
				goto fail;
			}
			p->line_start = pos;
			p->state = RL_METHOD;
			pos++;
			break;
		}
		case RL_START_LF:
			if (b[pos] != '\n') {
				reason = "bare_cr";
				goto fail;
			}
			pos++;
			p->state = RL_START;
			break;
		case RL_METHOD: {
			size_t bound = p->line_start + HTTP_METHOD_MAX_LEN;
			size_t end = bound < len ? bound : len;
			while (pos < end && (http_cc[b[pos]] & HTTP_CC_TCHAR))
				pos++;
			if (pos == len)
				break;
			if (b[pos] != ' ') {
				if (pos == bound) {
					status = 501;
					reason = "method_too_long";
				} else {
					reason = "bad_method_char";
				}
				goto fail;
			}
			p->method_end = pos;
			p->target_start = ++pos;
			p->state = RL_TARGET;
			break;
		}
		case RL_TARGET: {
			size_t ub = p->target_start + lim->max_uri;
			size_t lb = p->line_start + lim->max_request_line;
			size_t bound = ub < lb ? ub : lb;
			size_t end = bound < len ? bound : len;
			pos = http_scan_target(b, pos, end);
			if (pos == len)
				break;
			if (pos >= lb) {
				status = 414;
				reason = "request_line_too_long";
				goto fail;
			}
			if (pos == ub && (http_cc[b[pos]] & HTTP_CC_TARGET)) {
				status = 414;
				reason = "uri_too_long";
				goto fail;
			}
			if (b[pos] != ' ') {
				/* CR/LF here is an HTTP/0.9 line or a
				 * truncated one; anything else is a byte a
				 * target may not carry. */
				reason = b[pos] == '\r' || b[pos] == '\n'
						 ? "bad_request_line"
						 : "bad_request_target";
				goto fail;
			}
			if (pos == p->target_start) {
				reason = "bad_request_target";
				goto fail;
			}
			p->target_end = pos;
			p->version_start = ++pos;
			p->state = RL_VERSION;
			break;
		}
		case RL_VERSION: {
			/* "HTTP/x.y" is 8 bytes; stop at the 9th. */
			size_t vb = p->version_start + 9;
			size_t lb = p->line_start + lim->max_request_line;
			size_t bound = vb < lb ? vb : lb;
			size_t end = bound < len ? bound : len;
			while (pos < end && b[pos] != '\r' && b[pos] != '\n')
				pos++;
			if (pos == len)
				break;
			if (pos == bound && pos != vb) {
				status = 414;
				reason = "request_line_too_long";
				goto fail;
			}
			if (pos == vb) {
				reason = "bad_version";
				goto fail;
			}
			int v = parse_version(buf + p->version_start,
					      pos - p->version_start,
					      &p->version_minor);
			if (v != 0) {
				status = v;
				reason = v == 505 ? "unsupported_version"
						  : "bad_version";
				goto fail;
			}
			if (b[pos] == '\n') {
				if (!lim->allow_bare_lf) {
					reason = "bare_lf";
					goto fail;
				}
				pos++;
				goto line_done;
			}
			pos++;
			p->state = RL_LF;
			break;
		}
		case RL_LF:
			if (pos >= p->line_start + lim->max_request_line) {
				status = 414;
				reason = "request_line_too_long";
				goto fail;
			}
			if (b[pos] != '\n') {
				reason = "bare_cr";
				goto fail;
			}
			pos++;
		line_done:
			http_fs_init(&p->fs, p->fs.hdrs, p->fs.cap,
				     p->line_start, lim->max_header_line,
				     lim->max_header_bytes, 431, 431,
				     lim->allow_bare_lf);
			/* The field scanner's line accounting starts at the
			 * first field line, not at the request line. */
			p->fs.line_start = pos;
			p->state = RL_FIELDS;
			break;
		default:
			BW_ASSERT(!"bad request-line state");
		}
	}

	enum http_rc rc =
		http_fs_run(&p->fs, buf, len, &pos, HTTP_FS_HEADERS, &status,
			    &reason);
	p->pos = pos;
	if (rc == HTTP_NEED_MORE)
		return rc;
	if (rc == HTTP_ERROR)
		goto fail;

	/* Complete head: fill the request from offsets. */
	memset(r, 0, sizeof(*r));
	r->version_minor = p->version_minor;
	r->method_str = bw_str_make(buf + p->line_start,
				    p->method_end - p->line_start);
	r->method = http_method_from_str(r->method_str);
	r->target = bw_str_make(buf + p->target_start,
				p->target_end - p->target_start);
	r->headers = p->fs.hdrs;
	r->nheaders = p->fs.n;
	r->head_len = pos;
	if (req_semantics(p, r, &status, &reason) < 0)
		goto fail;
	p->state = RL_DONE;
	return HTTP_DONE;
fail:
	p->pos = pos;
	return req_fail(p, err, status, reason);
}
