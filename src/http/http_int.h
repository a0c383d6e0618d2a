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

/*
 * Span scanners for the two long runs in a head: field values and request
 * targets. Return the offset of the first byte in b[pos..end) that does not
 * belong to the run (or end). With SSE2 they test 16 bytes per step and
 * never load past end; the scalar loop finishes the tail and handles the
 * rare in-run bytes the vector test is too coarse for (HTAB in values).
 */
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

static inline size_t http_scan_value(const unsigned char *b, size_t pos,
				     size_t end)
{
	for (;;) {
#ifdef __SSE2__
		const __m128i sp = _mm_set1_epi8(0x20);
		const __m128i del = _mm_set1_epi8(0x7f);
		while (end - pos >= 16) {
			__m128i v;
			memcpy(&v, b + pos, sizeof(v)); /* unaligned load */
			/* bad: v < 0x20 (unsigned) or v == 0x7f */
			__m128i ok = _mm_cmpeq_epi8(_mm_max_epu8(v, sp), v);
			__m128i bad = _mm_or_si128(_mm_andnot_si128(ok, _mm_set1_epi8(-1)),
						   _mm_cmpeq_epi8(v, del));
			unsigned m = (unsigned)_mm_movemask_epi8(bad);
			if (m) {
				pos += (size_t)__builtin_ctz(m);
				break;
			}
			pos += 16;
		}
#endif
		while (pos < end && (http_cc[b[pos]] & HTTP_CC_VALUE)) {
			pos++;
#ifdef __SSE2__
			if (b[pos - 1] == '\t')
				break; /* back to the vector loop */
#endif
		}
		if (pos >= end || !(http_cc[b[pos]] & HTTP_CC_VALUE))
			return pos;
	}
}

static inline size_t http_scan_target(const unsigned char *b, size_t pos,
				      size_t end)
{
#ifdef __SSE2__
	const __m128i lo = _mm_set1_epi8(0x21);
	const __m128i hi = _mm_set1_epi8(0x7e);
	const __m128i hash = _mm_set1_epi8('#');
	while (end - pos >= 16) {
		__m128i v;
		memcpy(&v, b + pos, sizeof(v)); /* unaligned load */
		/* bad: v < 0x21 or v > 0x7e (unsigned), or '#' */
		__m128i in_lo = _mm_cmpeq_epi8(_mm_max_epu8(v, lo), v);
		__m128i in_hi = _mm_cmpeq_epi8(_mm_min_epu8(v, hi), v);
		__m128i good = _mm_andnot_si128(_mm_cmpeq_epi8(v, hash),
						_mm_and_si128(in_lo, in_hi));
		unsigned m = (unsigned)_mm_movemask_epi8(good) ^ 0xffffu;
		if (m)
			return pos + (size_t)__builtin_ctz(m);
		pos += 16;
	}
#endif
	while (pos < end && (http_cc[b[pos]] & HTTP_CC_TARGET))
		pos++;
	return pos;
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
