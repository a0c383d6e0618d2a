/*
 * http_fields.c — field lines (RFC 9112 §5, RFC 9110 §5): the byte-class
 * tables, the incremental field-section scanner shared by request heads,
 * response heads and trailers, header lookup and list helpers, and the
 * one-pass classification of framing fields (Content-Length,
 * Transfer-Encoding, Connection, Host, Expect, Upgrade).
 *
 * Invariants:
 *  - the scanner never reads past len and never looks at a byte twice
 *    except when trimming a value's trailing OWS;
 *  - it stops at the first byte that passes a limit, so the bytes it
 *    examines are bounded by the limits whatever the caller hands it;
 *  - stored fields point into the buffer given to the latest call.
 */
#include "http/http_int.h"

#include <string.h>

/* -------------------------------------------------------------- tables */

#define IS_DIGIT(c) ((c) >= '0' && (c) <= '9')
#define IS_ALPHA(c) (((c) >= 'A' && (c) <= 'Z') || ((c) >= 'a' && (c) <= 'z'))
#define IS_TCHAR(c)                                                            \
	(IS_DIGIT(c) || IS_ALPHA(c) || (c) == '!' || (c) == '#' ||             \
	 (c) == '$' || (c) == '%' || (c) == '&' || (c) == '\'' ||             \
	 (c) == '*' || (c) == '+' || (c) == '-' || (c) == '.' ||              \
	 (c) == '^' || (c) == '_' || (c) == '`' || (c) == '|' || (c) == '~')
#define IS_VALUE(c) (((c) >= 0x20 && (c) != 0x7f) || (c) == '\t')
#define IS_TARGET(c) ((c) > 0x20 && (c) < 0x7f && (c) != '#')
#define IS_HEX(c)                                                              \
	(IS_DIGIT(c) || ((c) >= 'a' && (c) <= 'f') || ((c) >= 'A' && (c) <= 'F'))
#define IS_HOST(c)                                                             \
	(IS_DIGIT(c) || IS_ALPHA(c) || (c) == '-' || (c) == '.' ||             \
	 (c) == '_' || (c) == '~')
#define IS_IPLIT(c) (IS_HEX(c) || (c) == ':' || (c) == '.')

#define CC(c)                                                                  \
	((IS_TCHAR(c) ? HTTP_CC_TCHAR : 0) |                                   \
	 (IS_VALUE(c) ? HTTP_CC_VALUE : 0) |                                   \
	 (IS_TARGET(c) ? HTTP_CC_TARGET : 0) | (IS_HEX(c) ? HTTP_CC_HEX : 0) | \
	 (IS_HOST(c) ? HTTP_CC_HOST : 0) | (IS_IPLIT(c) ? HTTP_CC_IPLIT : 0))
#define CC4(i) CC(i), CC((i) + 1), CC((i) + 2), CC((i) + 3)
#define CC16(i) CC4(i), CC4((i) + 4), CC4((i) + 8), CC4((i) + 12)
#define CC64(i) CC16(i), CC16((i) + 16), CC16((i) + 32), CC16((i) + 48)

const uint8_t http_cc[256] = { CC64(0), CC64(64), CC64(128), CC64(192) };

#define LO(c) ((uint8_t)(((c) >= 'A' && (c) <= 'Z') ? (c) + 32 : (c)))
#define LO4(i) LO(i), LO((i) + 1), LO((i) + 2), LO((i) + 3)
#define LO16(i) LO4(i), LO4((i) + 4), LO4((i) + 8), LO4((i) + 12)
#define LO64(i) LO16(i), LO16((i) + 16), LO16((i) + 32), LO16((i) + 48)

const uint8_t http_lower[256] = { LO64(0), LO64(64), LO64(128), LO64(192) };

enum http_rc http_fail(struct bw_err *err, int status, const char *reason)
{
	bw_err_set(err, status, "http", reason, "HTTP message rejected: %s",
		   reason);
	return HTTP_ERROR;
}

/* ------------------------------------------------------------- scanner */

enum {
	FS_LINE_START,
	FS_NAME,
	FS_OWS,
	FS_VALUE,
	FS_CR,     /* saw CR after a value, want LF */
	FS_END_LF, /* saw CR on an empty line, want LF */
	FS_DONE,
};

void http_fs_init(struct http_fieldscan *s, struct http_header *hdrs,
		  size_t cap, size_t start, size_t max_line, size_t max_total,
		  int status_line_big, int status_total, bool allow_bare_lf)
{
	memset(s, 0, sizeof(*s));
	s->hdrs = hdrs;
	s->cap = hdrs ? cap : 0;
	s->start = start;
	s->line_start = start;
	s->max_line = max_line;
	s->max_total = max_total;
	s->status_line_big = status_line_big;
	s->status_total = status_total;
	s->allow_bare_lf = allow_bare_lf;
	s->state = FS_LINE_START;
}

void http_fs_rebase(struct http_fieldscan *s, uintptr_t old_base,
		    const char *buf)
{
	/* Convert through integers: the old buffer may be gone, and we only
	 * need the offsets, never the old bytes. */
	for (size_t i = 0; i < s->n; i++) {
		struct http_header *h = &s->hdrs[i];
		h->name.p = buf + ((uintptr_t)h->name.p - old_base);
		h->value.p = buf + ((uintptr_t)h->value.p - old_base);
	}
}

/* Trim trailing OWS of buf[from..to) and store the finished field. */
static void fs_finish_line(struct http_fieldscan *s, const char *buf,
			   size_t value_end)
{
	size_t vs = s->value_start;
	while (value_end > vs && http_is_ows((unsigned char)buf[value_end - 1]))
		value_end--;
	struct http_header *h = &s->hdrs[s->n];
	h->name = bw_str_make(buf + s->line_start, s->name_len);
	h->value = bw_str_make(buf + vs, value_end - vs);
	s->n++;
}

enum http_rc http_fs_run(struct http_fieldscan *s, const char *buf,
			 size_t len, size_t *posp, enum http_fs_kind kind,
			 int *status, const char **reason)
{
	const unsigned char *b = (const unsigned char *)buf;
	size_t pos = *posp;
	bool tr = kind == HTTP_FS_TRAILERS;

	/* The section may not reach offset total_end; a line may not reach
	 * line_start + max_line. Scanning stops at the nearer bound, so a
	 * hostile peer cannot make us walk more than the limits allow. */
	size_t total_end = s->start + s->max_total;

	for (;;) {
		size_t line_end = s->line_start + s->max_line;
		size_t bound = line_end < total_end ? line_end : total_end;
		size_t end = bound < len ? bound : len;

		if (pos >= end) {
			if (pos >= len) {
				*posp = pos;
				return HTTP_NEED_MORE;
			}
			/* A byte exists at or past a bound. */
			if (pos >= total_end) {
				*status = s->status_total;
				*reason = tr ? "trailer_too_large"
					     : "header_too_large";
			} else {
				*status = s->status_line_big;
				*reason = "header_line_too_long";
			}
			goto fail;
		}

		switch (s->state) {
		case FS_LINE_START: {
			unsigned char c = b[pos];
			if (c == '\r') {
				s->state = FS_END_LF;
				pos++;
				break;
			}
			if (c == '\n') {
				if (!s->allow_bare_lf) {
					*reason = "bare_lf";
					goto fail400;
				}
				pos++;
				goto done;
			}
			if (c == ' ' || c == '\t') {
				/* Whitespace after the start line (RFC 9112
				 * §2.2) or a continuation line (§5.2): both
				 * are ways to hide a field from one parser
				 * and not another. */
				*reason = s->n == 0 && !tr ? "ws_after_start_line"
							   : "obs_fold";
				goto fail400;
			}
			if (!http_is_tchar(c)) {
				*reason = "bad_header_name";
				goto fail400;
			}
			if (s->n >= s->cap) {
				*status = s->status_total;
				*reason = tr ? "too_many_trailers"
					     : "too_many_headers";
				goto fail;
			}
			s->state = FS_NAME;
			pos++;
			break;
		}
		case FS_NAME: {
			while (pos < end && (http_cc[b[pos]] & HTTP_CC_TCHAR))
				pos++;
			if (pos == end)
				break;
			unsigned char c = b[pos];
			if (c == ':') {
				/* Only offsets until the line is complete:
				 * the buffer may move before then. */
				s->name_len = pos - s->line_start;
				s->state = FS_OWS;
				pos++;
				break;
			}
			*reason = c == ' ' || c == '\t' ? "space_before_colon"
							: "bad_header_name";
			goto fail400;
		}
		case FS_OWS:
			while (pos < end && http_is_ows(b[pos]))
				pos++;
			if (pos == end)
				break;
			s->value_start = pos;
			s->state = FS_VALUE;
			__attribute__((fallthrough));
		case FS_VALUE: {
			pos = http_scan_value(b, pos, end);
			if (pos == end)
				break;
			unsigned char c = b[pos];
			if (c == '\r') {
				s->state = FS_CR;
				pos++;
				break;
			}
			if (c == '\n') {
				if (!s->allow_bare_lf) {
					*reason = "bare_lf";
					goto fail400;
				}
				fs_finish_line(s, buf, pos);
				pos++;
				s->line_start = pos;
				s->state = FS_LINE_START;
				break;
			}
			*reason = "bad_header_value";
			goto fail400;
		}
		case FS_CR:
			if (b[pos] != '\n') {
				*reason = "bare_cr";
				goto fail400;
			}
			fs_finish_line(s, buf, pos - 1);
			pos++;
			s->line_start = pos;
			s->state = FS_LINE_START;
			break;
		case FS_END_LF:
			if (b[pos] != '\n') {
				*reason = "bare_cr";
				goto fail400;
			}
			pos++;
			goto done;
		default:
			BW_ASSERT(!"http_fs_run called after completion");
		}
	}
done:
	s->state = FS_DONE;
	*posp = pos;
	return HTTP_DONE;
fail400:
	*status = 400;
fail:
	*posp = pos;
	return HTTP_ERROR;
}

/* -------------------------------------------------------------- lookup */

static bool name_eq(struct bw_str name, const char *want, size_t wlen)
{
	if (name.len != wlen)
		return false;
	for (size_t i = 0; i < wlen; i++)
		if (http_lower[(unsigned char)name.p[i]] !=
		    http_lower[(unsigned char)want[i]])
			return false;
	return true;
}

const struct http_header *http_header_next(const struct http_header *h,
					   size_t n, const char *name,
					   const struct http_header *prev)
{
	size_t wlen = strlen(name);
	size_t i = prev ? (size_t)(prev - h) + 1 : 0;
	for (; i < n; i++)
		if (name_eq(h[i].name, name, wlen))
			return &h[i];
	return NULL;
}

const struct http_header *http_header_find(const struct http_header *h,
					   size_t n, const char *name)
{
	return http_header_next(h, n, name, NULL);
}

bool http_is_token(struct bw_str s)
{
	if (s.len == 0)
		return false;
	for (size_t i = 0; i < s.len; i++)
		if (!http_is_tchar((unsigned char)s.p[i]))
			return false;
	return true;
}

bool http_list_next(struct bw_str *list, struct bw_str *elem)
{
	const char *p = list->p;
	size_t n = list->len;
	for (;;) {
		size_t i = 0;
		while (i < n && (http_is_ows((unsigned char)p[i]) || p[i] == ','))
			i++;
		if (i == n) {
			list->p = p + n;
			list->len = 0;
			return false;
		}
		size_t st = i;
		bool quoted = false;
		for (; i < n; i++) {
			char c = p[i];
			if (quoted) {
				if (c == '\\' && i + 1 < n)
					i++;
				else if (c == '"')
					quoted = false;
			} else if (c == '"') {
				quoted = true;
			} else if (c == ',') {
				break;
			}
		}
		size_t e = i;
		while (e > st && http_is_ows((unsigned char)p[e - 1]))
			e--;
		list->p = p + i;
		list->len = n - i;
		if (e > st) {
			*elem = bw_str_make(p + st, e - st);
			return true;
		}
		p = list->p;
		n = list->len;
	}
}

/* The part of a list element before any ";param", OWS-trimmed. */
static struct bw_str elem_main(struct bw_str e)
{
	const char *semi = memchr(e.p, ';', e.len);
	size_t n = semi ? (size_t)(semi - e.p) : e.len;
	while (n > 0 && http_is_ows((unsigned char)e.p[n - 1]))
		n--;
	return bw_str_make(e.p, n);
}

bool http_list_has_token(struct bw_str value, const char *token)
{
	size_t tlen = strlen(token);
	struct bw_str e;
	while (http_list_next(&value, &e))
		if (name_eq(elem_main(e), token, tlen))
			return true;
	return false;
}

/* ------------------------------------------------------------- methods */

static const char *const method_names[] = {
	[HTTP_METHOD_OTHER] = "",	  [HTTP_METHOD_GET] = "GET",
	[HTTP_METHOD_HEAD] = "HEAD",	  [HTTP_METHOD_POST] = "POST",
	[HTTP_METHOD_PUT] = "PUT",	  [HTTP_METHOD_DELETE] = "DELETE",
	[HTTP_METHOD_CONNECT] = "CONNECT", [HTTP_METHOD_OPTIONS] = "OPTIONS",
	[HTTP_METHOD_TRACE] = "TRACE",	  [HTTP_METHOD_PATCH] = "PATCH",
};

const char *http_method_name(enum http_method m)
{
	if ((size_t)m >= BW_ARRAY_LEN(method_names))
		return "";
	return method_names[m];
}

enum http_method http_method_from_str(struct bw_str s)
{
	/* Switch on length first so the common methods cost one memcmp. */
	switch (s.len) {
	case 3:
		if (memcmp(s.p, "GET", 3) == 0)
			return HTTP_METHOD_GET;
		if (memcmp(s.p, "PUT", 3) == 0)
			return HTTP_METHOD_PUT;
		break;
	case 4:
		if (memcmp(s.p, "POST", 4) == 0)
			return HTTP_METHOD_POST;
		if (memcmp(s.p, "HEAD", 4) == 0)
			return HTTP_METHOD_HEAD;
		break;
	case 5:
		if (memcmp(s.p, "PATCH", 5) == 0)
			return HTTP_METHOD_PATCH;
		if (memcmp(s.p, "TRACE", 5) == 0)
			return HTTP_METHOD_TRACE;
		break;
	case 6:
		if (memcmp(s.p, "DELETE", 6) == 0)
			return HTTP_METHOD_DELETE;
		break;
	case 7:
		if (memcmp(s.p, "OPTIONS", 7) == 0)
			return HTTP_METHOD_OPTIONS;
		if (memcmp(s.p, "CONNECT", 7) == 0)
			return HTTP_METHOD_CONNECT;
		break;
	default:
		break;
	}
	return HTTP_METHOD_OTHER;
}

/* ------------------------------------------------------------- framing */

static int parse_content_length(struct bw_str v, uint64_t *out)
{
	/* 1*DIGIT only: no sign, no spaces, no list ("5, 5"), no overflow.
	 * bw_str_to_u64 already refuses all of those. */
	return bw_str_to_u64(v, out);
}

static int parse_te(struct bw_str v, struct http_framing_info *fi)
{
	struct bw_str e;
	bool any = false;
	while (http_list_next(&v, &e)) {
		any = true;
		struct bw_str m = elem_main(e);
		if (!http_is_token(m))
			return -1;
		if (HTTP_IEQ(m, "chunked")) {
			/* chunked takes no parameters (RFC 9112 §7). */
			if (m.len != e.len)
				return -1;
			fi->te_chunked++;
			fi->te_last_chunked = true;
		} else {
			fi->te_other = true;
			fi->te_last_chunked = false;
		}
	}
	if (!any)
		fi->te_empty = true;
	return 0;
}

static int parse_connection(struct bw_str v, struct http_framing_info *fi)
{
	struct bw_str e;
	while (http_list_next(&v, &e)) {
		if (!http_is_token(e))
			return -1;
		if (HTTP_IEQ(e, "close"))
			fi->conn_close = true;
		else if (HTTP_IEQ(e, "keep-alive"))
			fi->conn_keep_alive = true;
		else if (HTTP_IEQ(e, "upgrade"))
			fi->conn_upgrade = true;
	}
	return 0;
}

int http_framing_scan(const struct http_header *h, size_t n,
		      struct http_framing_info *fi, const char **reason)
{
	memset(fi, 0, sizeof(*fi));
	for (size_t i = 0; i < n; i++) {
		struct bw_str nm = h[i].name, v = h[i].value;
		/* Dispatch on length and first letter so ordinary fields
		 * (Accept, Cookie, User-Agent...) cost two compares. */
		switch (nm.len) {
		case 4:
			if (HTTP_IEQ(nm, "host")) {
				fi->n_host++;
				fi->host = v;
			}
			break;
		case 6:
			if (HTTP_IEQ(nm, "expect")) {
				fi->n_expect++;
				struct bw_str e;
				struct bw_str l = v;
				bool any = false;
				while (http_list_next(&l, &e)) {
					any = true;
					if (HTTP_IEQ(e, "100-continue"))
						fi->expect_continue = true;
					else
						fi->expect_other = true;
				}
				if (!any)
					fi->expect_other = true;
			}
			break;
		case 7:
			if (HTTP_IEQ(nm, "upgrade")) {
				fi->has_upgrade = true;
				if (http_list_has_token(v, "websocket"))
					fi->upgrade_websocket = true;
			}
			break;
		case 10:
			if (HTTP_IEQ(nm, "connection") &&
			    parse_connection(v, fi) < 0) {
				*reason = "bad_connection";
				return -1;
			}
			break;
		case 14:
			if (HTTP_IEQ(nm, "content-length")) {
				/* Duplicates are refused even when equal:
				 * agreeing on which copy counts is exactly
				 * what smuggling exploits. */
				if (++fi->n_cl > 1) {
					*reason = "dup_content_length";
					return -1;
				}
				if (parse_content_length(v, &fi->content_length) <
				    0) {
					*reason = "bad_content_length";
					return -1;
				}
			}
			break;
		case 17:
			if (HTTP_IEQ(nm, "transfer-encoding")) {
				fi->n_te++;
				if (parse_te(v, fi) < 0) {
					*reason = "bad_transfer_encoding";
					return -1;
				}
			}
			break;
		default:
			break;
		}
	}
	return 0;
}

/* ----------------------------------------------------------- authority */

int http_authority_parse(struct bw_str a, struct bw_str *host, uint16_t *port,
			 bool *has_port)
{
	const unsigned char *p = (const unsigned char *)a.p;
	size_t n = a.len, i = 0;
	if (n == 0)
		return -1;
	if (p[0] == '[') {
		/* IP-literal: IPv6 (and IPv4-embedded) only; no IPvFuture
		 * and no zone ids, which nothing legitimate sends. */
		i = 1;
		while (i < n && (http_cc[p[i]] & HTTP_CC_IPLIT))
			i++;
		if (i == n || p[i] != ']' || i < 3)
			return -1;
		i++;
	} else {
		while (i < n && (http_cc[p[i]] & HTTP_CC_HOST))
			i++;
		if (i == 0)
			return -1;
	}
	*host = bw_str_make(a.p, i);
	*has_port = false;
	*port = 0;
	if (i == n)
		return 0;
	if (p[i] != ':')
		return -1;
	i++;
	/* Strict: a ':' must be followed by 1-5 digits within 1..65535. */
	if (i == n || n - i > 5)
		return -1;
	unsigned v = 0;
	for (; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	*has_port = true;
	return 0;
}
