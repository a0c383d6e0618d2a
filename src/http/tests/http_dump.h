/*
 * http_dump.h — test and fuzz helpers for the http module: a canonical text
 * dump of a parse result (so two parses can be compared byte for byte),
 * and drivers that feed a message to a fresh parser or body decoder in
 * pieces, re-allocating the buffer before every feed so a stale pointer
 * would be caught by ASan and a missed rebase would show in the dump.
 *
 * Included by the unit tests and the fuzz targets only.
 */
#ifndef BW_HTTP_DUMP_H
#define BW_HTTP_DUMP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

#define DUMP_MAX_HEADERS 64

static inline void dump_s(struct bw_buf *o, const char *tag, struct bw_str s,
		   const char *base, size_t blen)
{
	long off = -1;
	if (s.p >= base && s.p <= base + blen)
		off = (long)(s.p - base);
	(void)!bw_buf_printf(o, "%s@%ld:%zu=", tag, off, s.len);
	(void)!bw_buf_append(o, s.p, s.len);
	(void)!bw_buf_append(o, ";", 1);
}

static inline void dump_err(struct bw_buf *o, enum http_rc rc,
		     const struct bw_err *err)
{
	(void)!bw_buf_printf(o, "rc=%d", (int)rc);
	if (rc == HTTP_ERROR)
		(void)!bw_buf_printf(o, " status=%d reason=%s", err->code,
				     err->reason);
	(void)!bw_buf_append(o, "\n", 1);
}

static inline void dump_headers(struct bw_buf *o, const struct http_header *h,
			 size_t n, const char *base, size_t blen)
{
	for (size_t i = 0; i < n; i++) {
		dump_s(o, "n", h[i].name, base, blen);
		dump_s(o, "v", h[i].value, base, blen);
		(void)!bw_buf_append(o, "\n", 1);
	}
}

static inline void dump_request(struct bw_buf *o, enum http_rc rc,
			 const struct bw_err *err, const struct http_request *r,
			 const char *base, size_t blen)
{
	dump_err(o, rc, err);
	if (rc != HTTP_DONE)
		return;
	(void)!bw_buf_printf(o, "m=%d form=%d v=%u hl=%zu fr=%d cl=%llu "
				"ka=%d ec=%d up=%d ws=%d port=%u hq=%d\n",
			     (int)r->method, (int)r->form, r->version_minor,
			     r->head_len, (int)r->framing,
			     (unsigned long long)r->content_length,
			     r->keep_alive, r->expect_continue, r->upgrade,
			     r->websocket, r->port, r->has_query);
	dump_s(o, "ms", r->method_str, base, blen);
	dump_s(o, "t", r->target, base, blen);
	dump_s(o, "sc", r->scheme, base, blen);
	dump_s(o, "au", r->authority, base, blen);
	dump_s(o, "p", r->path, base, blen);
	dump_s(o, "q", r->query, base, blen);
	dump_s(o, "h", r->host, base, blen);
	dump_s(o, "hn", r->host_name, base, blen);
	(void)!bw_buf_append(o, "\n", 1);
	dump_headers(o, r->headers, r->nheaders, base, blen);
}

static inline void dump_response(struct bw_buf *o, enum http_rc rc,
			  const struct bw_err *err,
			  const struct http_response *r, const char *base,
			  size_t blen)
{
	dump_err(o, rc, err);
	if (rc != HTTP_DONE)
		return;
	(void)!bw_buf_printf(o, "v=%u st=%d hl=%zu fr=%d cl=%llu ka=%d up=%d\n",
			     r->version_minor, r->status, r->head_len,
			     (int)r->framing,
			     (unsigned long long)r->content_length,
			     r->keep_alive, r->upgrade);
	dump_s(o, "r", r->reason, base, blen);
	(void)!bw_buf_append(o, "\n", 1);
	dump_headers(o, r->headers, r->nheaders, base, blen);
}

/*
 * Feed raw[0..len) to a fresh request parser: prefix cuts[0], then
 * cuts[1], ..., then all of it. Writes the dump to o. Returns the rc.
 */
static inline enum http_rc feed_request_split(const struct http_limits *lim,
				       const char *raw, size_t len,
				       const size_t *cuts, size_t ncuts,
				       struct bw_buf *o)
{
	struct http_header hdrs[DUMP_MAX_HEADERS];
	struct http_req_parser p;
	struct http_request req;
	struct bw_err err;
	enum http_rc rc = HTTP_NEED_MORE;
	char *buf = NULL;
	size_t have = 0;

	memset(&req, 0, sizeof(req));
	bw_err_clear(&err);
	http_req_parser_init(&p, lim, hdrs, DUMP_MAX_HEADERS);
	for (size_t i = 0; i <= ncuts && rc == HTTP_NEED_MORE; i++) {
		size_t upto = i < ncuts ? cuts[i] : len;
		if (upto > len)
			upto = len;
		if (upto < have)
			continue;
		char *nb = malloc(upto ? upto : 1);
		if (!nb)
			abort();
		if (upto)
			memcpy(nb, raw, upto);
		free(buf);
		buf = nb;
		have = upto;
		rc = http_req_parser_feed(&p, buf, have, &req, &err);
	}
	dump_request(o, rc, &err, &req, buf, have);
	free(buf);
	return rc;
}

static inline enum http_rc feed_response_split(const struct http_limits *lim,
					enum http_method m, const char *raw,
					size_t len, const size_t *cuts,
					size_t ncuts, struct bw_buf *o)
{
	struct http_header hdrs[DUMP_MAX_HEADERS];
	struct http_resp_parser p;
	struct http_response resp;
	struct bw_err err;
	enum http_rc rc = HTTP_NEED_MORE;
	char *buf = NULL;
	size_t have = 0;

	memset(&resp, 0, sizeof(resp));
	bw_err_clear(&err);
	http_resp_parser_init(&p, lim, hdrs, DUMP_MAX_HEADERS, m);
	for (size_t i = 0; i <= ncuts && rc == HTTP_NEED_MORE; i++) {
		size_t upto = i < ncuts ? cuts[i] : len;
		if (upto > len)
			upto = len;
		if (upto < have)
			continue;
		char *nb = malloc(upto ? upto : 1);
		if (!nb)
			abort();
		if (upto)
			memcpy(nb, raw, upto);
		free(buf);
		buf = nb;
		have = upto;
		rc = http_resp_parser_feed(&p, buf, have, &resp, &err);
	}
	dump_response(o, rc, &err, &resp, buf, have);
	free(buf);
	return rc;
}

/*
 * Decode body bytes raw[0..len) arriving in pieces at the given cuts, the
 * way a connection would: a pending buffer that new bytes are appended to
 * and consumed bytes are dropped from (re-allocated every time). The dump
 * gets the decoded bytes, the result, the total consumed and the trailers.
 */
static inline enum http_rc feed_body_split(const struct http_limits *lim,
				    enum http_framing fr, uint64_t cl,
				    uint64_t max, unsigned flags,
				    const char *raw, size_t len,
				    const size_t *cuts, size_t ncuts,
				    struct bw_buf *o)
{
	struct http_header tr[DUMP_MAX_HEADERS];
	struct http_body b;
	struct bw_err err;
	enum http_rc rc = HTTP_NEED_MORE;
	char *pend = NULL;
	size_t plen = 0, fed = 0, consumed_total = 0;
	struct bw_buf data;

	bw_buf_init(&data, 1 << 24);
	bw_err_clear(&err);
	http_body_init(&b, lim, fr, cl, max, tr, DUMP_MAX_HEADERS, flags);
	for (size_t i = 0; i <= ncuts; i++) {
		size_t upto = i < ncuts ? cuts[i] : len;
		if (upto > len)
			upto = len;
		if (upto < fed)
			continue;
		char *nb = malloc(plen + (upto - fed) + 1);
		if (!nb)
			abort();
		if (plen)
			memcpy(nb, pend, plen);
		memcpy(nb + plen, raw + fed, upto - fed);
		free(pend);
		pend = nb;
		plen += upto - fed;
		fed = upto;
		for (;;) {
			size_t c;
			struct bw_str d;
			rc = http_body_feed(&b, pend, plen, &c, &d, &err);
			if (rc == HTTP_DATA && d.len)
				(void)!bw_buf_append(&data, d.p, d.len);
			if (rc == HTTP_DONE) {
				size_t nt;
				const struct http_header *t =
					http_body_trailers(&b, &nt);
				dump_headers(o, t, nt, pend, plen);
			}
			/* Drop consumed bytes (moving the rest). */
			BW_ASSERT(c <= plen);
			if (rc != HTTP_DONE) {
				memmove(pend, pend + c, plen - c);
				plen -= c;
			}
			consumed_total += c;
			if (rc != HTTP_DATA)
				break;
		}
		if (rc == HTTP_DONE || rc == HTTP_ERROR)
			break;
	}
	(void)!bw_buf_printf(o, "consumed=%zu data=", consumed_total);
	(void)!bw_buf_append(o, data.data ? data.data : "", data.len);
	(void)!bw_buf_append(o, "\n", 1);
	dump_err(o, rc, &err);
	free(pend);
	bw_buf_fini(&data);
	return rc;
}

#endif
