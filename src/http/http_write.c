/*
 * http_write.c — serialising HTTP/1.1 messages into bounded buffers:
 * status and request lines, validated header fields, Content-Length, Date,
 * chunks and last-chunk with trailers, the 100 Continue interim response
 * and canned error responses.
 *
 * Invariants:
 *  - every writer is all-or-nothing: on failure (ceiling or invalid input)
 *    the buffer is restored to its previous length;
 *  - nothing that is not a token goes into a name position and no CR, LF,
 *    NUL or other CTL goes into a value, so callers cannot inject fields or
 *    split responses through these functions.
 */
#include "http/http_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

struct reason {
	int status;
	const char *phrase;
};

/* RFC 9110 §15 (plus 429/431 from RFC 6585). */
static const struct reason reasons[] = {
	{ 100, "Continue" },
	{ 101, "Switching Protocols" },
	{ 200, "OK" },
	{ 201, "Created" },
	{ 202, "Accepted" },
	{ 203, "Non-Authoritative Information" },
	{ 204, "No Content" },
	{ 205, "Reset Content" },
	{ 206, "Partial Content" },
	{ 300, "Multiple Choices" },
	{ 301, "Moved Permanently" },
	{ 302, "Found" },
	{ 303, "See Other" },
	{ 304, "Not Modified" },
	{ 307, "Temporary Redirect" },
	{ 308, "Permanent Redirect" },
	{ 400, "Bad Request" },
	{ 401, "Unauthorized" },
	{ 402, "Payment Required" },
	{ 403, "Forbidden" },
	{ 404, "Not Found" },
	{ 405, "Method Not Allowed" },
	{ 406, "Not Acceptable" },
	{ 407, "Proxy Authentication Required" },
	{ 408, "Request Timeout" },
	{ 409, "Conflict" },
	{ 410, "Gone" },
	{ 411, "Length Required" },
	{ 412, "Precondition Failed" },
	{ 413, "Content Too Large" },
	{ 414, "URI Too Long" },
	{ 415, "Unsupported Media Type" },
	{ 416, "Range Not Satisfiable" },
	{ 417, "Expectation Failed" },
	{ 421, "Misdirected Request" },
	{ 422, "Unprocessable Content" },
	{ 426, "Upgrade Required" },
	{ 428, "Precondition Required" },
	{ 429, "Too Many Requests" },
	{ 431, "Request Header Fields Too Large" },
	{ 500, "Internal Server Error" },
	{ 501, "Not Implemented" },
	{ 502, "Bad Gateway" },
	{ 503, "Service Unavailable" },
	{ 504, "Gateway Timeout" },
	{ 505, "HTTP Version Not Supported" },
};

const char *http_reason_phrase(int status)
{
	/* The table is sorted: binary search. */
	size_t lo = 0, hi = BW_ARRAY_LEN(reasons);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (reasons[mid].status == status)
			return reasons[mid].phrase;
		if (reasons[mid].status < status)
			lo = mid + 1;
		else
			hi = mid;
	}
	return "Unknown";
}

/* Undo a partial write. */
static int rollback(struct bw_buf *out, size_t len)
{
	out->len = len;
	if (out->data)
		out->data[len] = '\0';
	return -1;
}

static bool value_ok(struct bw_str v)
{
	for (size_t i = 0; i < v.len; i++)
		if (!(http_cc[(unsigned char)v.p[i]] & HTTP_CC_VALUE))
			return false;
	/* No leading/trailing OWS: a recipient would trim it anyway. */
	return v.len == 0 || (!http_is_ows((unsigned char)v.p[0]) &&
			      !http_is_ows((unsigned char)v.p[v.len - 1]));
}

int http_write_status_line(struct bw_buf *out, int status)
{
	if (status < 100 || status > 599)
		return -1;
	/* Written by hand, not with printf: this runs once per response and
	 * vfprintf was the largest user-space cost of a small response. */
	const char *reason = http_reason_phrase(status);
	size_t rlen = strlen(reason);
	char line[9 + 4];
	memcpy(line, "HTTP/1.1 ", 9);
	line[9] = (char)('0' + status / 100);
	line[10] = (char)('0' + status / 10 % 10);
	line[11] = (char)('0' + status % 10);
	line[12] = ' ';
	size_t l = out->len;
	if (bw_buf_append(out, line, sizeof(line)) < 0 ||
	    bw_buf_append(out, reason, rlen) < 0 ||
	    bw_buf_append(out, "\r\n", 2) < 0)
		return rollback(out, l);
	return 0;
}

/* Decimal digits of n into the end of buf (at least 20 bytes); returns
 * where they start. */
static char *u64_digits(char *end, uint64_t n)
{
	char *p = end;
	do {
		*--p = (char)('0' + n % 10);
		n /= 10;
	} while (n);
	return p;
}

int http_write_request_line(struct bw_buf *out, struct bw_str method,
			    struct bw_str target, struct bw_err *err)
{
	if (!http_is_token(method))
		return bw_err_set(err, 400, "http", "bad_method_char",
				  "method is not a token");
	if (target.len == 0)
		return bw_err_set(err, 400, "http", "bad_request_target",
				  "empty request-target");
	for (size_t i = 0; i < target.len; i++)
		if (!(http_cc[(unsigned char)target.p[i]] & HTTP_CC_TARGET))
			return bw_err_set(err, 400, "http",
					  "bad_request_target",
					  "request-target has a forbidden byte");
	size_t l = out->len;
	if (bw_buf_append(out, method.p, method.len) < 0 ||
	    bw_buf_append_byte(out, ' ') < 0 ||
	    bw_buf_append(out, target.p, target.len) < 0 ||
	    bw_buf_append(out, " HTTP/1.1\r\n", 11) < 0) {
		rollback(out, l);
		return bw_err_set(err, 500, "http", "buffer_full",
				  "output buffer ceiling reached");
	}
	return 0;
}

int http_write_header(struct bw_buf *out, struct bw_str name,
		      struct bw_str value, struct bw_err *err)
{
	if (!http_is_token(name))
		return bw_err_set(err, 400, "http", "bad_header_name",
				  "field name is not a token");
	if (!value_ok(value))
		return bw_err_set(err, 400, "http", "bad_header_value",
				  "field value has CTL, CR/LF or edge OWS");
	size_t l = out->len;
	if (bw_buf_reserve(out, name.len + value.len + 4) < 0) {
		rollback(out, l);
		return bw_err_set(err, 500, "http", "buffer_full",
				  "output buffer ceiling reached");
	}
	/* Reserved above, so these cannot fail. */
	(void)!bw_buf_append(out, name.p, name.len);
	(void)!bw_buf_append(out, ": ", 2);
	(void)!bw_buf_append(out, value.p, value.len);
	(void)!bw_buf_append(out, "\r\n", 2);
	return 0;
}

int http_write_header_lit(struct bw_buf *out, const char *name,
			  const char *value)
{
	return http_write_header(out, bw_str_make(name, strlen(name)),
				 bw_str_make(value, strlen(value)), NULL);
}

int http_write_content_length(struct bw_buf *out, uint64_t n)
{
	char line[16 + 20 + 2];
	memcpy(line, "Content-Length: ", 16);
	char digits[20];
	char *d = u64_digits(digits + sizeof(digits), n);
	size_t nd = (size_t)(digits + sizeof(digits) - d);
	memcpy(line + 16, d, nd);
	memcpy(line + 16 + nd, "\r\n", 2);
	return bw_buf_append(out, line, 16 + nd + 2);
}

/* The formatted Date line changes once a second and every response
 * carries it: each thread keeps the last one it formatted. */
static _Thread_local struct {
	int64_t epoch_s;
	size_t len;
	char line[64];
} date_cache = { .epoch_s = INT64_MIN };

static void put2(char *p, int v)
{
	p[0] = (char)('0' + v / 10 % 10);
	p[1] = (char)('0' + v % 10);
}

int http_write_date(struct bw_buf *out, int64_t epoch_s)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed",
					 "Thu", "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr",
					    "May", "Jun", "Jul", "Aug",
					    "Sep", "Oct", "Nov", "Dec" };
	if (date_cache.epoch_s != epoch_s) {
		struct tm tm;
		time_t t = (time_t)epoch_s;
		if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999 ||
		    tm.tm_year + 1900 < 0)
			return -1;
		/* "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n" (IMF-fixdate) */
		char *p = date_cache.line;
		memcpy(p, "Date: ", 6);
		memcpy(p + 6, days[tm.tm_wday], 3);
		memcpy(p + 9, ", ", 2);
		put2(p + 11, tm.tm_mday);
		p[13] = ' ';
		memcpy(p + 14, months[tm.tm_mon], 3);
		p[17] = ' ';
		int year = tm.tm_year + 1900;
		put2(p + 18, year / 100);
		put2(p + 20, year % 100);
		p[22] = ' ';
		put2(p + 23, tm.tm_hour);
		p[25] = ':';
		put2(p + 26, tm.tm_min);
		p[28] = ':';
		put2(p + 29, tm.tm_sec);
		memcpy(p + 31, " GMT\r\n", 6);
		date_cache.len = 37;
		date_cache.epoch_s = epoch_s;
	}
	return bw_buf_append(out, date_cache.line, date_cache.len);
}

int http_write_head_end(struct bw_buf *out)
{
	return bw_buf_append(out, "\r\n", 2);
}

int http_write_chunk(struct bw_buf *out, const void *data, size_t len)
{
	if (len == 0)
		return 0;
	size_t l = out->len;
	char hex[2 * sizeof(size_t) + 2], *h = hex + sizeof(hex);
	*--h = '\n';
	*--h = '\r';
	for (size_t v = len; v; v >>= 4)
		*--h = "0123456789abcdef"[v & 15];
	if (bw_buf_append(out, h, (size_t)(hex + sizeof(hex) - h)) < 0 ||
	    bw_buf_append(out, data, len) < 0 ||
	    bw_buf_append(out, "\r\n", 2) < 0)
		return rollback(out, l);
	return 0;
}

int http_write_last_chunk(struct bw_buf *out, const struct http_header *tr,
			  size_t n)
{
	size_t l = out->len;
	if (bw_buf_append(out, "0\r\n", 3) < 0)
		return rollback(out, l);
	for (size_t i = 0; i < n; i++)
		if (http_write_header(out, tr[i].name, tr[i].value, NULL) < 0)
			return rollback(out, l);
	if (bw_buf_append(out, "\r\n", 2) < 0)
		return rollback(out, l);
	return 0;
}

int http_write_continue(struct bw_buf *out)
{
	static const char msg[] = "HTTP/1.1 100 Continue\r\n\r\n";
	return bw_buf_append(out, msg, sizeof(msg) - 1);
}

static bool reason_token_ok(const char *r)
{
	if (!r || !*r)
		return false;
	size_t n = 0;
	for (; r[n]; n++) {
		char c = r[n];
		if (n >= 47 || !((c >= 'a' && c <= 'z') ||
				 (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

int http_write_error(struct bw_buf *out, int status, const char *reason,
		     bool head_only)
{
	char body[128];
	int blen;
	if (status < 100 || status > 599)
		return -1;
	if (reason_token_ok(reason))
		blen = bw_snprintf(body, sizeof(body), "%d %s (%s)\n", status,
				   http_reason_phrase(status), reason);
	else
		blen = bw_snprintf(body, sizeof(body), "%d %s\n", status,
				   http_reason_phrase(status));
	if (blen < 0)
		return -1;
	size_t l = out->len;
	if (http_write_status_line(out, status) < 0 ||
	    http_write_date(out, bw_clock_now_s()) < 0 ||
	    http_write_header_lit(out, "Content-Type",
				  "text/plain; charset=utf-8") < 0 ||
	    http_write_content_length(out, (uint64_t)blen) < 0 ||
	    http_write_header_lit(out, "Cache-Control", "no-store") < 0 ||
	    http_write_header_lit(out, "X-Content-Type-Options", "nosniff") <
		    0 ||
	    http_write_header_lit(out, "Connection", "close") < 0 ||
	    http_write_head_end(out) < 0 ||
	    (!head_only && bw_buf_append(out, body, (size_t)blen) < 0))
		return rollback(out, l);
	return 0;
}
