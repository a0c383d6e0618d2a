/*
 * http_int.h — internals shared by the http module's files (never included
 * outside src/http): the byte-class table every scanner uses, the field-line
 * scanner shared by request heads, response heads and trailers, and the
 * framing-header checks both head parsers apply.
 *
 * Invariant: http_cc[] is a compile-time constant table, so the hot scanning
 * loops are one load and one test per byte, no function calls.
 */
#ifndef BW_HTTP_INT_H
#define BW_HTTP_INT_H

#include "http/http.h"
#include "http/http_limits.h"

/* ------------------------------------------------------- byte classes */

#define HTTP_CC_TCHAR 0x01  /* RFC 9110 tchar */
#define HTTP_CC_VALUE 0x02  /* field-vchar / obs-text / SP / HTAB */
#define HTTP_CC_TARGET 0x04 /* allowed in a request-target */
#define HTTP_CC_HEX 0x08    /* HEXDIG */
#define HTTP_CC_HOST 0x10   /* allowed in a reg-name host (strict) */
#define HTTP_CC_IPLIT 0x20  /* allowed inside [ ] of an IP-literal */

extern const uint8_t http_cc[256];
extern const uint8_t http_lower[256];

static inline bool http_is_tchar(unsigned char c)
{
	return http_cc[c] & HTTP_CC_TCHAR;
}

static inline bool http_is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* ASCII case-insensitive equality of s with a lower-case literal. */
static inline bool http_ieq(const char *s, size_t n, const char *lower_lit,
			    size_t litlen)
{
	if (n != litlen)
		return false;
	for (size_t i = 0; i < n; i++)
		if (http_lower[(unsigned char)s[i]] != (unsigned char)lower_lit[i])
			return false;
	return true;
}
#define HTTP_IEQ(str, lit) http_ieq((str).p, (str).len, lit, sizeof(lit) - 1)

/* ------------------------------------------------- field-line scanner */

/*
 * One scanner instance parses a field section (the headers of a head, or a
 * trailer section) over offsets into the caller's buffer, resuming where it
 * stopped. Completed fields are stored in s->hdrs as pointers into the
 * buffer of the latest call; http_fs_rebase() moves them when the caller's
 * buffer moved.
 */
enum http_fs_kind { HTTP_FS_HEADERS, HTTP_FS_TRAILERS };

void http_fs_init(struct http_fieldscan *s, struct http_header *hdrs,
		  size_t cap, size_t start, size_t max_line, size_t max_total,
		  int status_line_big, int status_total, bool allow_bare_lf);

/* Advance over buf[*pos..len). Returns HTTP_NEED_MORE, HTTP_DONE (*pos is
 * one past the final LF) or HTTP_ERROR (*status, *reason set). */
enum http_rc http_fs_run(struct http_fieldscan *s, const char *buf,
			 size_t len, size_t *pos, enum http_fs_kind kind,
			 int *status, const char **reason);

void http_fs_rebase(struct http_fieldscan *s, uintptr_t old_base,
		    const char *buf);

/* ---------------------------------------- framing fields of one head */

/* What the framing-relevant fields of a head said, gathered in one pass. */
struct http_framing_info {
	unsigned n_cl, n_te, n_host;
	uint64_t content_length;
	struct bw_str host;
	bool te_last_chunked;
	unsigned te_chunked;  /* how many times "chunked" appeared */
	bool te_other;        /* a coding other than chunked */
	bool te_empty;        /* TE present but no element at all */
	bool conn_close, conn_keep_alive, conn_upgrade;
	bool has_upgrade, upgrade_websocket;
	unsigned n_expect;
	bool expect_continue, expect_other;
};

/* Classify hdrs[0..n). Returns 0, or -1 with *reason set (status 400
 * class): dup_content_length, bad_content_length, bad_transfer_encoding,
 * bad_connection. */
int http_framing_scan(const struct http_header *h, size_t n,
		      struct http_framing_info *fi, const char **reason);

/* Parse an authority "host[:port]" strictly. Returns 0 or -1. */
int http_authority_parse(struct bw_str a, struct bw_str *host,
			 uint16_t *port, bool *has_port);

/* Sticky-error helper: fills err and returns HTTP_ERROR. */
enum http_rc http_fail(struct bw_err *err, int status, const char *reason);

#endif
