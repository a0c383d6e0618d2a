/*
 * http_response.c — the incremental HTTP/1.1 response-head parser the
 * reverse proxy runs on upstream responses (RFC 9112 §4, §6.3): status
 * line, field section (shared scanner), and how the body is delimited
 * given the request method and status.
 *
 * Same strictness as requests: an upstream that sends ambiguous framing
 * could desynchronise a pooled keep-alive connection, so it is refused
 * (502) rather than interpreted. One leniency, because it cannot affect
 * framing: a status line may end right after the code ("HTTP/1.1 200").
 *
 * Invariants: as for requests — offsets only between feeds, sticky
 * errors, scanning bounded by max_request_line / max_header_bytes.
 */
#include "http/http_int.h"

#include <string.h>

enum {
	SL_VERSION,
	SL_CODE,
	SL_AFTER_CODE, /* SP or CR after the three digits */
	SL_REASON,
	SL_LF,
	SL_FIELDS,
	SL_DONE,
	SL_ERROR,
};

void http_resp_parser_init(struct http_resp_parser *p,
			   const struct http_limits *lim,
			   struct http_header *hdrs, size_t cap,
			   enum http_method req_method)
{
	memset(p, 0, sizeof(*p));
	p->lim = lim;
	if (cap > lim->max_headers)
		cap = lim->max_headers;
	p->fs.hdrs = hdrs;
	p->fs.cap = hdrs ? cap : 0;
	p->req_method = req_method;
	p->state = SL_VERSION;
}

static int resp_semantics(struct http_resp_parser *p, struct http_response *r,
			  const char **reason)
{
	struct http_framing_info fi;
	int st = r->status;

	if (http_framing_scan(r->headers, r->nheaders, &fi, reason) < 0)
		return -1;
	if (fi.n_te > 0 && r->version_minor == 0) {
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
		/* RFC 9112 §6.3 would read such a body until close; a proxy
		 * that must not guess refuses it instead. */
		if (!fi.te_last_chunked) {
			*reason = "te_not_chunked_last";
			return -1;
		}
		if (fi.te_other) {
			*reason = "unsupported_te";
			return -1;
		}
	}
	bool tunnel = st == 101 || (p->req_method == HTTP_METHOD_CONNECT &&
				    st >= 200 && st < 300);
	if ((st < 200 || st == 204 || tunnel) && (fi.n_te || fi.n_cl)) {
		/* RFC 9110 §8.6, §9.3.6: these must not carry framing. */
		*reason = "unexpected_framing";
		return -1;
	}

	if (fi.conn_close)
		r->keep_alive = false;
	else
		r->keep_alive = r->version_minor == 1 || fi.conn_keep_alive;
	r->content_length = fi.content_length;

	if (tunnel) {
		r->framing = HTTP_FRAMING_TUNNEL;
		r->upgrade = st == 101;
		r->keep_alive = false;
	} else if (st < 200 || st == 204 || st == 304 ||
		   p->req_method == HTTP_METHOD_HEAD) {
		r->framing = HTTP_FRAMING_NONE;
	} else if (fi.n_te) {
		r->framing = HTTP_FRAMING_CHUNKED;
	} else if (fi.n_cl) {
		r->framing = HTTP_FRAMING_LENGTH;
	} else {
		r->framing = HTTP_FRAMING_CLOSE;
		r->keep_alive = false;
	}
	return 0;
}

enum http_rc http_resp_parser_feed(struct http_resp_parser *p,
				   const char *buf, size_t len,
				   struct http_response *r, struct bw_err *err)
{
	const unsigned char *b = (const unsigned char *)buf;
	const struct http_limits *lim = p->lim;
	size_t pos = p->pos;
	int status = 502;
	const char *reason = NULL;
	size_t lb = lim->max_request_line; /* status line bound */

	if (p->state == SL_ERROR)
		return http_fail(err, p->err_status, p->err_reason);
	BW_ASSERT(p->state != SL_DONE);
	BW_ASSERT(len >= pos);
	if (p->base != (uintptr_t)buf) {
		if (p->base)
			http_fs_rebase(&p->fs, p->base, buf);
		p->base = (uintptr_t)buf;
	}

	while (p->state < SL_FIELDS) {
		if (pos >= len) {
			p->pos = pos;
			return HTTP_NEED_MORE;
		}
		if (pos >= lb) {
			reason = "status_line_too_long";
			goto fail;
		}
		switch (p->state) {
		case SL_VERSION:
			/* "HTTP/x.y" then SP: compare byte by byte so a
			 * wrong first byte fails at once. */
			while (pos < len && pos < 8) {
				static const char pat[] = "HTTP/d.d";
				char want = pat[pos];
				unsigned char c = b[pos];
				if (want == 'd' ? (c < '0' || c > '9')
						: c != (unsigned char)want) {
					reason = "bad_version";
					goto fail;
				}
				pos++;
			}
			if (pos < 8 || pos == len)
				break;
			if (b[pos] != ' ') {
				reason = "bad_version";
				goto fail;
			}
			if (b[5] != '1' || (b[7] != '0' && b[7] != '1')) {
				reason = "unsupported_version";
				goto fail;
			}
			p->version_minor = (uint8_t)(b[7] - '0');
			pos++;
			p->state = SL_CODE;
			break;
		case SL_CODE:
			while (pos < len && pos < 12) {
				if (b[pos] < '0' || b[pos] > '9') {
					reason = "bad_status";
					goto fail;
				}
				pos++;
			}
			if (pos < 12)
				break;
			p->status = (b[9] - '0') * 100 + (b[10] - '0') * 10 +
				    (b[11] - '0');
			if (p->status < 100 || p->status > 599) {
				reason = "bad_status";
				goto fail;
			}
			p->state = SL_AFTER_CODE;
			break;
		case SL_AFTER_CODE:
			if (b[pos] == ' ') {
				p->reason_start = ++pos;
				p->state = SL_REASON;
			} else if (b[pos] == '\r' || b[pos] == '\n') {
				p->reason_start = pos;
				p->state = SL_REASON;
			} else {
				reason = "bad_status";
				goto fail;
			}
			break;
		case SL_REASON: {
			size_t end = lb < len ? lb : len;
			while (pos < end && (http_cc[b[pos]] & HTTP_CC_VALUE))
				pos++;
			if (pos == end)
				break;
			if (b[pos] == '\r') {
				p->reason_end = pos++;
				p->state = SL_LF;
				break;
			}
			if (b[pos] == '\n') {
				if (!lim->allow_bare_lf) {
					reason = "bare_lf";
					goto fail;
				}
				p->reason_end = pos++;
				goto line_done;
			}
			reason = "bad_reason_phrase";
			goto fail;
		}
		case SL_LF:
			if (b[pos] != '\n') {
				reason = "bare_cr";
				goto fail;
			}
			pos++;
		line_done:
			http_fs_init(&p->fs, p->fs.hdrs, p->fs.cap, 0,
				     lim->max_header_line,
				     lim->max_header_bytes, 502, 502,
				     lim->allow_bare_lf);
			p->fs.line_start = pos;
			p->state = SL_FIELDS;
			break;
		default:
			BW_ASSERT(!"bad status-line state");
		}
	}

	enum http_rc rc = http_fs_run(&p->fs, buf, len, &pos, HTTP_FS_HEADERS,
				      &status, &reason);
	p->pos = pos;
	if (rc == HTTP_NEED_MORE)
		return rc;
	if (rc == HTTP_ERROR)
		goto fail;

	memset(r, 0, sizeof(*r));
	r->version_minor = p->version_minor;
	r->status = p->status;
	r->reason = bw_str_make(buf + p->reason_start,
				p->reason_end - p->reason_start);
	r->headers = p->fs.hdrs;
	r->nheaders = p->fs.n;
	r->head_len = pos;
	if (resp_semantics(p, r, &reason) < 0)
		goto fail;
	p->state = SL_DONE;
	return HTTP_DONE;
fail:
	/* The upstream is at fault whatever the detail: the client gets 502. */
	p->pos = pos;
	p->state = SL_ERROR;
	p->err_status = 502;
	p->err_reason = reason;
	return http_fail(err, 502, reason);
}
