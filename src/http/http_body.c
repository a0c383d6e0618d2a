/*
 * http_body.c — incremental message-body decoding (RFC 9112 §6-§7):
 * Content-Length, chunked (with extensions bounded and trailers parsed as
 * strictly as headers) and close-delimited bodies.
 *
 * Data is handed out as spans inside the caller's buffer (zero copy);
 * framing bytes are consumed as they are read, so the decoder keeps no
 * bytes of its own. The one exception is the trailer section, which is
 * consumed only once complete because the returned trailer fields point
 * into it.
 *
 * Invariants:
 *  - total decoded bytes never exceed b->max (checked before a chunk's
 *    data is accepted, so an oversize chunk fails at its size line);
 *  - chunk-size lines are bounded: at most 16 hex digits and
 *    max_chunk_ext bytes of extension;
 *  - an error is sticky.
 */
#include "http/http_int.h"

#include <string.h>

enum {
	B_NONE,
	B_LENGTH,
	B_CLOSE,
	B_SIZE,
	B_SIZE_BWS, /* whitespace after the size: only ';' may follow */
	B_EXT,
	B_SIZE_LF,
	B_DATA,
	B_DATA_CR,
	B_DATA_LF,
	B_TRAILER,
	B_DONE,
	B_ERROR,
};

void http_body_init(struct http_body *b, const struct http_limits *lim,
		    enum http_framing framing, uint64_t content_length,
		    uint64_t max_body, struct http_header *trailers, size_t cap,
		    unsigned flags)
{
	memset(b, 0, sizeof(*b));
	b->lim = lim;
	b->framing = (uint8_t)framing;
	b->max = max_body;
	b->flags = flags;
	if (cap > lim->max_trailers)
		cap = lim->max_trailers;
	b->fs.hdrs = trailers;
	b->fs.cap = trailers ? cap : 0;
	switch (framing) {
	case HTTP_FRAMING_NONE:
		b->state = B_NONE;
		break;
	case HTTP_FRAMING_LENGTH:
		b->state = B_LENGTH;
		b->remaining = content_length;
		break;
	case HTTP_FRAMING_CHUNKED:
		b->state = B_SIZE;
		break;
	case HTTP_FRAMING_CLOSE:
	case HTTP_FRAMING_TUNNEL:
		b->state = B_CLOSE;
		break;
	}
}

static enum http_rc body_fail(struct http_body *b, struct bw_err *err,
			      int status, const char *reason)
{
	if (b->flags & HTTP_BODY_RESPONSE)
		status = 502;
	b->state = B_ERROR;
	b->err_status = status;
	b->err_reason = reason;
	return http_fail(err, status, reason);
}

/*
 * RFC 9110 §6.5.1: trailers must not carry fields that frame, route,
 * authenticate or describe the content, since a recipient may merge them
 * into the header section after the decision they affect was made.
 */
static const char *const forbidden_trailers[] = {
	"content-length", "transfer-encoding", "host", "connection",
	"keep-alive", "upgrade", "te", "trailer", "expect", "content-type",
	"content-encoding", "content-range", "authorization",
	"proxy-authorization", "cookie", "set-cookie", "cache-control",
	"max-forwards", "range", "proxy-connection", "location",
};

static bool trailer_forbidden(struct bw_str name)
{
	for (size_t i = 0; i < BW_ARRAY_LEN(forbidden_trailers); i++) {
		const char *f = forbidden_trailers[i];
		if (http_ieq(name.p, name.len, f, strlen(f)))
			return true;
	}
	return false;
}

static enum http_rc body_trailer(struct http_body *b, const char *buf,
				 size_t len, size_t *consumed,
				 struct bw_err *err)
{
	int status = 400;
	const char *reason = NULL;
	size_t pos = b->tpos;

	if (b->base != (uintptr_t)buf) {
		http_fs_rebase(&b->fs, b->base, buf);
		b->base = (uintptr_t)buf;
	}
	enum http_rc rc = http_fs_run(&b->fs, buf, len, &pos,
				      HTTP_FS_TRAILERS, &status, &reason);
	b->tpos = pos;
	if (rc == HTTP_NEED_MORE)
		return rc;
	if (rc == HTTP_ERROR)
		return body_fail(b, err, status, reason);
	for (size_t i = 0; i < b->fs.n; i++)
		if (trailer_forbidden(b->fs.hdrs[i].name))
			return body_fail(b, err, 400, "forbidden_trailer");
	b->state = B_DONE;
	*consumed = pos;
	return HTTP_DONE;
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = http_lower[c];
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

enum http_rc http_body_feed(struct http_body *b, const char *buf, size_t len,
			    size_t *consumed, struct bw_str *data,
			    struct bw_err *err)
{
	const unsigned char *p = (const unsigned char *)buf;
	const struct http_limits *lim = b->lim;
	size_t pos = 0;
	const char *reason = NULL;

	*consumed = 0;
	*data = bw_str_make(buf, 0);

	switch (b->state) {
	case B_ERROR:
		return http_fail(err, b->err_status, b->err_reason);
	case B_DONE:
		return HTTP_DONE;
	case B_NONE:
		b->state = B_DONE;
		return HTTP_DONE;
	case B_LENGTH: {
		if (b->remaining > b->max - b->total)
			return body_fail(b, err, 413, "body_too_large");
		if (b->remaining == 0) {
			b->state = B_DONE;
			return HTTP_DONE;
		}
		size_t n = len;
		if ((uint64_t)n > b->remaining)
			n = (size_t)b->remaining;
		if (n == 0)
			return HTTP_NEED_MORE;
		b->remaining -= n;
		b->total += n;
		*data = bw_str_make(buf, n);
		*consumed = n;
		return HTTP_DATA;
	}
	case B_CLOSE:
		if (len == 0)
			return HTTP_NEED_MORE;
		if (b->framing == HTTP_FRAMING_CLOSE &&
		    (uint64_t)len > b->max - b->total)
			return body_fail(b, err, 413, "body_too_large");
		b->total += len;
		*data = bw_str_make(buf, len);
		*consumed = len;
		return HTTP_DATA;
	case B_TRAILER:
		return body_trailer(b, buf, len, consumed, err);
	default:
		break;
	}

	/* Chunked framing. */
	for (;;) {
		if (pos >= len) {
			*consumed = pos;
			return HTTP_NEED_MORE;
		}
		unsigned char c = p[pos];
		switch (b->state) {
		case B_SIZE: {
			int v;
			while ((v = hexval(c)) >= 0) {
				if (b->size_digits == 16) {
					reason = "chunk_size_overflow";
					goto fail;
				}
				b->remaining = b->remaining << 4 | (unsigned)v;
				b->size_digits++;
				if (++pos == len)
					break;
				c = p[pos];
			}
			if (pos == len)
				break;
			if (b->size_digits == 0) {
				reason = "bad_chunk_size";
				goto fail;
			}
			if (c == ';') {
				if (b->ext_len >= lim->max_chunk_ext) {
					reason = "chunk_ext_too_long";
					goto fail;
				}
				b->state = B_EXT;
				b->ext_len++;
				pos++;
			} else if (c == ' ' || c == '\t') {
				b->state = B_SIZE_BWS;
			} else if (c == '\r') {
				b->state = B_SIZE_LF;
				pos++;
			} else if (c == '\n' && lim->allow_bare_lf) {
				pos++;
				goto size_line_done;
			} else {
				reason = c == '\n' ? "bare_lf" : "bad_chunk_size";
				goto fail;
			}
			break;
		}
		case B_SIZE_BWS:
		case B_EXT: {
			/* Extensions are bounded and must be free of CTLs;
			 * their contents are ignored (RFC 9112 §7.1.1). */
			size_t room = lim->max_chunk_ext - b->ext_len;
			size_t end = len - pos < room ? len : pos + room;
			size_t st = pos;
			if (b->state == B_SIZE_BWS) {
				while (pos < end && http_is_ows(p[pos]))
					pos++;
			} else {
				while (pos < end &&
				       (http_cc[p[pos]] & HTTP_CC_VALUE))
					pos++;
			}
			b->ext_len += pos - st;
			if (pos == len)
				break;
			c = p[pos];
			/* At the bound, only a byte that would have been
			 * part of the extension is one too many. */
			if (pos == end &&
			    (b->state == B_SIZE_BWS
				     ? http_is_ows(c)
				     : (http_cc[c] & HTTP_CC_VALUE) != 0)) {
				reason = "chunk_ext_too_long";
				goto fail;
			}
			if (b->state == B_SIZE_BWS) {
				if (c != ';') {
					reason = "bad_chunk_size";
					goto fail;
				}
				if (b->ext_len >= lim->max_chunk_ext) {
					reason = "chunk_ext_too_long";
					goto fail;
				}
				b->state = B_EXT;
				b->ext_len++;
				pos++;
			} else if (c == '\r') {
				b->state = B_SIZE_LF;
				pos++;
			} else if (c == '\n' && lim->allow_bare_lf) {
				pos++;
				goto size_line_done;
			} else {
				reason = c == '\n' ? "bare_lf" : "bad_chunk_ext";
				goto fail;
			}
			break;
		}
		case B_SIZE_LF:
			if (c != '\n') {
				reason = "bare_cr";
				goto fail;
			}
			pos++;
		size_line_done:
			if (b->remaining == 0) {
				/* last-chunk: the trailer section follows.
				 * Hand back what was consumed so the trailer
				 * scanner's offsets start at 0 in the next
				 * call (an empty span: "call again"). */
				b->state = B_TRAILER;
				http_fs_init(&b->fs, b->fs.hdrs, b->fs.cap, 0,
					     lim->max_header_line,
					     lim->max_trailer_bytes, 431, 431,
					     lim->allow_bare_lf);
				b->tpos = 0;
				b->base = 0;
				*consumed = pos;
				return HTTP_DATA;
			}
			if (b->remaining > b->max - b->total) {
				*consumed = pos;
				return body_fail(b, err, 413, "body_too_large");
			}
			b->state = B_DATA;
			break;
		case B_DATA: {
			size_t n = len - pos;
			if ((uint64_t)n > b->remaining)
				n = (size_t)b->remaining;
			*data = bw_str_make(buf + pos, n);
			pos += n;
			b->remaining -= n;
			b->total += n;
			if (b->remaining == 0)
				b->state = B_DATA_CR;
			*consumed = pos;
			return HTTP_DATA;
		}
		case B_DATA_CR:
			if (c == '\r') {
				b->state = B_DATA_LF;
				pos++;
				break;
			}
			if (c == '\n' && lim->allow_bare_lf) {
				pos++;
				goto next_chunk;
			}
			reason = "bad_chunk_crlf";
			goto fail;
		case B_DATA_LF:
			if (c != '\n') {
				reason = "bad_chunk_crlf";
				goto fail;
			}
			pos++;
		next_chunk:
			b->state = B_SIZE;
			b->size_digits = 0;
			b->ext_len = 0;
			b->remaining = 0;
			break;
		default:
			BW_ASSERT(!"bad body state");
		}
	}
fail:
	*consumed = pos;
	return body_fail(b, err, 400, reason);
}

/* Largest first allocation for a body of announced length. */
#define HTTP_BODY_PRESIZE_MAX 65536

enum http_rc http_body_feed_buf(struct http_body *b, const char *buf,
				size_t len, size_t *consumed,
				struct bw_buf *out, struct bw_err *err)
{
	/* A body of announced length goes into one allocation instead of
	 * doubling from 64 bytes; the first allocation is capped so that a
	 * large Content-Length never sent costs no memory up front. */
	if (out->cap == 0 && b->state == B_LENGTH && b->remaining > 0) {
		size_t want = b->remaining < HTTP_BODY_PRESIZE_MAX ?
				      (size_t)b->remaining : HTTP_BODY_PRESIZE_MAX;
		if (bw_buf_reserve(out, want) < 0) {
			/* over the buffer's ceiling: the append below says 413 */
		}
	}
	size_t off = 0;
	for (;;) {
		size_t c;
		struct bw_str d;
		enum http_rc rc =
			http_body_feed(b, buf + off, len - off, &c, &d, err);
		off += c;
		if (rc == HTTP_DATA) {
			if (d.len > 0 && bw_buf_append(out, d.p, d.len) < 0) {
				*consumed = off;
				return body_fail(b, err, 413, "body_too_large");
			}
			continue;
		}
		*consumed = off;
		return rc;
	}
}

int http_body_eof(struct http_body *b, struct bw_err *err)
{
	if (b->state == B_DONE || b->state == B_NONE) {
		b->state = B_DONE;
		return 0;
	}
	if (b->state == B_CLOSE) {
		b->state = B_DONE;
		return 0;
	}
	if (b->state == B_ERROR) {
		http_fail(err, b->err_status, b->err_reason);
		return -1;
	}
	body_fail(b, err, 400, "truncated_body");
	return -1;
}

const struct http_header *http_body_trailers(const struct http_body *b,
					     size_t *n)
{
	*n = b->state == B_DONE ? b->fs.n : 0;
	return b->fs.hdrs;
}
