/*
 * waf_body_multipart.c — the multipart/form-data request body processor
 * with ModSecurity's strict validation flags.
 *
 * The whole body is in memory (bounded by the request body limit), so the
 * parser works over (pointer, length) with explicit positions instead of a
 * streaming state machine; it never reads past the body and never needs a
 * NUL terminator. Form fields become ARGS_POST; file parts fill FILES,
 * FILES_NAMES, FILES_SIZES, FILES_COMBINED_SIZE (uploads are inspected in
 * memory and never written to disk, so FILES_TMPNAMES stays empty);
 * every part header goes to MULTIPART_PART_HEADERS keyed by part name.
 *
 * Flags (each "0" or "1"), as ModSecurity defines them:
 *   MULTIPART_BOUNDARY_QUOTED      boundary="..." in Content-Type
 *   MULTIPART_BOUNDARY_WHITESPACE  blanks around '=' or in the boundary
 *   MULTIPART_DATA_BEFORE          bytes before the first boundary
 *   MULTIPART_DATA_AFTER           bytes after the final boundary
 *   MULTIPART_HEADER_FOLDING       a part header continued on a new line
 *   MULTIPART_INVALID_HEADER_FOLDING  a continuation with nothing to fold
 *   MULTIPART_LF_LINE              a line ended by LF alone
 *   MULTIPART_CRLF_LF_LINES        both CRLF and bare LF line ends
 *   MULTIPART_MISSING_SEMICOLON    Content-Disposition params without ';'
 *   MULTIPART_INVALID_QUOTING      bad quoting in Content-Disposition
 *   MULTIPART_INVALID_PART         a malformed part header or parameter
 *   MULTIPART_UNMATCHED_BOUNDARY   a line that resembles the boundary
 *   MULTIPART_FILE_LIMIT_EXCEEDED  more files than SecUploadFileLimit
 *   MULTIPART_STRICT_ERROR         any of the above except UNMATCHED, or
 *                                  a processor error
 * A structural error (bad boundary, missing Content-Disposition or name,
 * header without colon, missing final boundary, too many parts) sets
 * REQBODY_ERROR with a message and stops processing, as v3 does.
 */
#include "waf/waf_int.h"

#include <string.h>
#include <strings.h>

enum mp_flag {
	F_BOUNDARY_QUOTED,
	F_BOUNDARY_WHITESPACE,
	F_DATA_BEFORE,
	F_DATA_AFTER,
	F_HEADER_FOLDING,
	F_INVALID_HEADER_FOLDING,
	F_LF_LINE,
	F_CRLF_LF_LINES,
	F_MISSING_SEMICOLON,
	F_INVALID_QUOTING,
	F_INVALID_PART,
	F_UNMATCHED_BOUNDARY,
	F_FILE_LIMIT_EXCEEDED,
	F__COUNT
};

static const enum waf_var_id flag_var[F__COUNT] = {
	WAF_VAR_MULTIPART_BOUNDARY_QUOTED,
	WAF_VAR_MULTIPART_BOUNDARY_WHITESPACE,
	WAF_VAR_MULTIPART_DATA_BEFORE,
	WAF_VAR_MULTIPART_DATA_AFTER,
	WAF_VAR_MULTIPART_HEADER_FOLDING,
	WAF_VAR_MULTIPART_INVALID_HEADER_FOLDING,
	WAF_VAR_MULTIPART_LF_LINE,
	WAF_VAR_MULTIPART_CRLF_LF_LINES,
	WAF_VAR_MULTIPART_MISSING_SEMICOLON,
	WAF_VAR_MULTIPART_INVALID_QUOTING,
	WAF_VAR_MULTIPART_INVALID_PART,
	WAF_VAR_MULTIPART_UNMATCHED_BOUNDARY,
	WAF_VAR_MULTIPART_FILE_LIMIT_EXCEEDED,
};

struct mp_hdr {
	struct bw_str name, value;
};

struct mp {
	struct waf_tx *tx;
	const char *b;  /* body */
	size_t n;
	char bnd[260];  /* "--" + boundary */
	size_t blen;
	bool flag[F__COUNT];
	bool seen_crlf, seen_lf;
	const char *err;
	unsigned files, parts;
	uint64_t files_size;
	/* current part */
	struct mp_hdr hdr[64];
	size_t nhdr;
	size_t hdr_bytes;
	struct bw_str name, filename;
	bool has_name, has_filename, has_cd;
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Characters RFC 2046 allows in a boundary (bcharsnospace plus space,
 * which only v2/v3's whitespace flag reports). */
static bool bchar(char c)
{
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
	       strchr("'()+_,-./:=? ", c) != NULL;
}

/* Find the boundary parameter of the Content-Type header. 0 or error. */
static int get_boundary(struct mp *m)
{
	const struct waf_kv *ct = waf_col_get(m->tx, WAF_VAR_REQUEST_HEADERS,
					      BW_STR("Content-Type"));
	if (!ct) {
		m->err = "Multipart: missing Content-Type";
		return -1;
	}
	const char *s = ct->val.p;
	size_t n = ct->val.len;
	if (n > 1024) {
		m->err = "Multipart: Invalid boundary in C-T (length).";
		return -1;
	}
	const char *b = NULL;
	unsigned count = 0;
	for (size_t i = 0; i + 8 <= n; i++)
		if (strncasecmp(s + i, "boundary", 8) == 0) {
			if (!b)
				b = s + i;
			count++;
		}
	if (!b) {
		m->err = "Multipart: Boundary not found in C-T.";
		return -1;
	}
	if (count > 1) {
		m->err = "Multipart: Multiple boundary parameters in C-T.";
		return -1;
	}
	const char *p = b + 8, *end = s + n;
	while (p < end && is_blank(*p)) {
		m->flag[F_BOUNDARY_WHITESPACE] = true;
		p++;
	}
	if (p >= end || *p != '=') {
		m->err = "Multipart: Invalid boundary in C-T (malformed).";
		return -1;
	}
	p++;
	while (p < end && is_blank(*p)) {
		m->flag[F_BOUNDARY_WHITESPACE] = true;
		p++;
	}
	const char *v = p, *ve;
	if (p < end && *p == '"') {
		m->flag[F_BOUNDARY_QUOTED] = true;
		v = p + 1;
		ve = memchr(v, '"', (size_t)(end - v));
		if (!ve) {
			m->err = "Multipart: Invalid boundary in C-T (quote).";
			return -1;
		}
	} else {
		ve = v;
		while (ve < end && *ve != ';' && *ve != ',')
			ve++;
		/* trailing blanks are not part of the boundary */
		while (ve > v && is_blank(ve[-1])) {
			ve--;
			m->flag[F_BOUNDARY_WHITESPACE] = true;
		}
	}
	size_t bl = (size_t)(ve - v);
	if (bl == 0 || bl > 70 * 3) {
		m->err = "Multipart: Invalid boundary in C-T (length).";
		return -1;
	}
	for (size_t i = 0; i < bl; i++) {
		if (!bchar(v[i])) {
			m->err = "Multipart: Invalid boundary in C-T (characters).";
			return -1;
		}
		if (v[i] == ' ')
			m->flag[F_BOUNDARY_WHITESPACE] = true;
	}
	m->bnd[0] = m->bnd[1] = '-';
	memcpy(m->bnd + 2, v, bl);
	m->blen = bl + 2;
	return 0;
}

/* The line starting at pos: [pos, *eol) without its terminator; *next is
 * the position after it. false at the end of the body. */
static bool next_line(struct mp *m, size_t pos, size_t *eol, size_t *next,
		      bool count_ending)
{
	if (pos >= m->n)
		return false;
	const char *nl = memchr(m->b + pos, '\n', m->n - pos);
	if (!nl) {
		*eol = m->n;
		*next = m->n;
		return true;
	}
	size_t e = (size_t)(nl - m->b);
	*next = e + 1;
	if (e > pos && m->b[e - 1] == '\r') {
		e--;
		if (count_ending)
			m->seen_crlf = true;
	} else if (count_ending) {
		m->seen_lf = true;
	}
	*eol = e;
	return true;
}

/* Is [s, e) a boundary line? 1 part boundary, 2 final, 0 not. */
static int boundary_kind(struct mp *m, size_t s, size_t e)
{
	size_t l = e - s;
	if (l < m->blen || memcmp(m->b + s, m->bnd, m->blen) != 0)
		return 0;
	size_t k = s + m->blen;
	if (k + 2 <= e && m->b[k] == '-' && m->b[k + 1] == '-') {
		k += 2;
		while (k < e && is_blank(m->b[k]))
			k++;
		return k == e ? 2 : 0;
	}
	while (k < e && is_blank(m->b[k]))
		k++;
	return k == e ? 1 : 0;
}

/* Parse name="..." / filename="..." of a form-data Content-Disposition. */
static int parse_cd(struct mp *m, struct bw_str v)
{
	const char *p = v.p, *end = v.p + v.len;
	while (p < end && is_blank(*p))
		p++;
	if ((size_t)(end - p) < 9 || strncasecmp(p, "form-data", 9) != 0) {
		m->err = "Multipart: Content-Disposition is not form-data.";
		m->flag[F_INVALID_PART] = true;
		return -1;
	}
	p += 9;
	for (;;) {
		while (p < end && is_blank(*p))
			p++;
		if (p >= end)
			break;
		if (*p == ';')
			p++;
		else
			m->flag[F_MISSING_SEMICOLON] = true;
		while (p < end && is_blank(*p))
			p++;
		if (p >= end)
			break;
		const char *pn = p;
		while (p < end && *p != '=' && !is_blank(*p) && *p != ';')
			p++;
		size_t pnl = (size_t)(p - pn);
		while (p < end && is_blank(*p))
			p++;
		if (p >= end || *p != '=' || pnl == 0) {
			m->err = "Multipart: Invalid Content-Disposition header "
				 "(malformed parameter).";
			m->flag[F_INVALID_PART] = true;
			return -1;
		}
		p++;
		while (p < end && is_blank(*p))
			p++;
		char *val = bw_arena_alloc(m->tx->arena, (size_t)(end - p) + 1);
		if (!val) {
			m->tx->oom = true;
			return -2;
		}
		size_t vl = 0;
		if (p < end && *p == '"') {
			p++;
			bool closed = false;
			while (p < end) {
				if (*p == '\\' && p + 1 < end &&
				    (p[1] == '"' || p[1] == '\\')) {
					val[vl++] = p[1];
					p += 2;
					continue;
				}
				if (*p == '\\')
					m->flag[F_INVALID_QUOTING] = true;
				if (*p == '"') {
					closed = true;
					p++;
					break;
				}
				val[vl++] = *p++;
			}
			if (!closed) {
				m->err = "Multipart: Invalid Content-Disposition "
					 "header (unterminated quote).";
				m->flag[F_INVALID_QUOTING] = true;
				return -1;
			}
		} else {
			if (p < end && *p == '\'')
				m->flag[F_INVALID_QUOTING] = true;
			while (p < end && *p != ';' && !is_blank(*p)) {
				if (*p == '"' || *p == '\'')
					m->flag[F_INVALID_QUOTING] = true;
				val[vl++] = *p++;
			}
		}
		val[vl] = 0;
		struct bw_str pname = bw_str_make(pn, pnl);
		if (bw_str_caseeq_lit(pname, "name")) {
			if (m->has_name) {
				m->err = "Multipart: Duplicate Content-Disposition "
					 "name.";
				m->flag[F_INVALID_PART] = true;
				return -1;
			}
			m->name = bw_str_make(val, vl);
			m->has_name = true;
		} else if (bw_str_caseeq_lit(pname, "filename") ||
			   bw_str_caseeq_lit(pname, "filename*")) {
			if (m->has_filename && bw_str_caseeq_lit(pname, "filename")) {
				m->err = "Multipart: Duplicate Content-Disposition "
					 "filename.";
				m->flag[F_INVALID_PART] = true;
				return -1;
			}
			if (!m->has_filename || bw_str_caseeq_lit(pname, "filename"))
				m->filename = bw_str_make(val, vl);
			m->has_filename = true;
		} else {
			m->err = "Multipart: Invalid Content-Disposition header "
				 "(unknown parameter).";
			m->flag[F_INVALID_PART] = true;
			return -1;
		}
	}
	return 0;
}

/* Headers of the current part are complete: check them. */
static int end_headers(struct mp *m)
{
	for (size_t i = 0; i < m->nhdr; i++) {
		if (!bw_str_caseeq_lit(m->hdr[i].name, "content-disposition"))
			continue;
		if (m->has_cd) {
			m->err = "Multipart: Duplicate Content-Disposition header.";
			m->flag[F_INVALID_PART] = true;
			return -1;
		}
		m->has_cd = true;
		int rc = parse_cd(m, m->hdr[i].value);
		if (rc)
			return rc;
	}
	if (!m->has_cd) {
		m->err = "Multipart: Part missing Content-Disposition header.";
		return -1;
	}
	if (!m->has_name) {
		m->err = "Multipart: Content-Disposition header missing name "
			 "field.";
		return -1;
	}
	return 0;
}

static int add_part(struct mp *m, size_t ds, size_t de)
{
	struct waf_tx *tx = m->tx;
	const char *pn = m->name.p;
	size_t pnl = m->name.len;
	for (size_t i = 0; i < m->nhdr; i++) {
		/* "Name: value" as received */
		size_t hl = m->hdr[i].name.len + 2 + m->hdr[i].value.len;
		char *h = bw_arena_alloc(tx->arena, hl + 1);
		if (!h) {
			tx->oom = true;
			return -1;
		}
		memcpy(h, m->hdr[i].name.p, m->hdr[i].name.len);
		memcpy(h + m->hdr[i].name.len, ": ", 2);
		memcpy(h + m->hdr[i].name.len + 2, m->hdr[i].value.p,
		       m->hdr[i].value.len);
		if (waf_col_add(tx, WAF_VAR_MULTIPART_PART_HEADERS, pn, pnl, h,
				hl))
			return -1;
	}
	if (waf_scal_set(tx, WAF_VAR_MULTIPART_NAME, pn, pnl))
		return -1;
	if (!m->has_filename)
		return waf_add_arg(tx, "POST", pn, pnl, m->b + ds, de - ds);
	if (waf_scal_set(tx, WAF_VAR_MULTIPART_FILENAME, m->filename.p,
			 m->filename.len))
		return -1;
	uint64_t lim = tx->rs->settings.upload_file_limit;
	if (lim && m->files >= lim) {
		m->flag[F_FILE_LIMIT_EXCEEDED] = true;
		return 0;
	}
	m->files++;
	m->files_size += de - ds;
	char sz[24];
	int l = bw_snprintf(sz, sizeof(sz), "%zu", de - ds);
	if (waf_col_add(tx, WAF_VAR_FILES, pn, pnl, m->filename.p,
			m->filename.len) ||
	    waf_col_add(tx, WAF_VAR_FILES_NAMES, pn, pnl, pn, pnl) ||
	    waf_col_add(tx, WAF_VAR_FILES_SIZES, pn, pnl, sz, (size_t)l) ||
	    waf_col_add(tx, WAF_VAR_FILES_TMP_CONTENT, pn, pnl, m->b + ds,
			de - ds) ||
	    waf_scal_setf(tx, WAF_VAR_FILES_COMBINED_SIZE, "%llu",
			  (unsigned long long)m->files_size))
		return -1;
	return 0;
}

static void reset_part(struct mp *m)
{
	m->nhdr = 0;
	m->hdr_bytes = 0;
	m->has_name = m->has_filename = m->has_cd = false;
	m->name = m->filename = bw_str_make("", 0);
}

/* Read part headers from *pos up to the blank line. */
static int read_headers(struct mp *m, size_t *pos)
{
	size_t eol, next;
	while (next_line(m, *pos, &eol, &next, true)) {
		size_t s = *pos;
		*pos = next;
		if (eol == s) /* blank line ends the headers */
			return 0;
		m->hdr_bytes += eol - s;
		if (eol - s > WAF_MULTIPART_HEADER_LINE_MAX ||
		    m->hdr_bytes > WAF_MULTIPART_HEADERS_MAX) {
			m->err = "Multipart: Part header too long.";
			return -1;
		}
		if (is_blank(m->b[s])) {
			if (m->nhdr == 0) {
				m->flag[F_INVALID_HEADER_FOLDING] = true;
				m->err = "Multipart: Invalid header folding.";
				return -1;
			}
			m->flag[F_HEADER_FOLDING] = true;
			/* fold into the previous value: value + ' ' + rest */
			struct mp_hdr *h = &m->hdr[m->nhdr - 1];
			size_t k = s;
			while (k < eol && is_blank(m->b[k]))
				k++;
			size_t nl = h->value.len + 1 + (eol - k);
			char *d = bw_arena_alloc(m->tx->arena, nl + 1);
			if (!d) {
				m->tx->oom = true;
				return -2;
			}
			memcpy(d, h->value.p, h->value.len);
			d[h->value.len] = ' ';
			memcpy(d + h->value.len + 1, m->b + k, eol - k);
			d[nl] = 0;
			h->value = bw_str_make(d, nl);
			continue;
		}
		const char *colon = memchr(m->b + s, ':', eol - s);
		if (!colon || colon == m->b + s) {
			m->flag[F_INVALID_PART] = true;
			m->err = "Multipart: Invalid part header (colon missing).";
			return -1;
		}
		if (m->nhdr >= BW_ARRAY_LEN(m->hdr)) {
			m->err = "Multipart: Too many part headers.";
			return -1;
		}
		const char *v = colon + 1;
		const char *ve = m->b + eol;
		while (v < ve && is_blank(*v))
			v++;
		while (ve > v && is_blank(ve[-1]))
			ve--;
		m->hdr[m->nhdr++] = (struct mp_hdr){
			bw_str_make(m->b + s, (size_t)(colon - (m->b + s))),
			bw_str_make(v, (size_t)(ve - v)) };
	}
	m->err = "Multipart: Part headers not terminated.";
	return -1;
}

/* Find the next boundary line at or after pos (a line start). Returns its
 * start or n; *kind as boundary_kind; *after = position after the line. */
static size_t find_boundary(struct mp *m, size_t pos, int *kind,
			    size_t *after)
{
	size_t from = pos;
	while (from < m->n) {
		const char *hit = memmem(m->b + from, m->n - from, m->bnd,
					 m->blen);
		if (!hit)
			break;
		size_t h = (size_t)(hit - m->b);
		if (h == pos || m->b[h - 1] == '\n') {
			size_t eol, next;
			(void)next_line(m, h, &eol, &next, false);
			int k = boundary_kind(m, h, eol);
			if (k) {
				(void)next_line(m, h, &eol, &next, true);
				*kind = k;
				*after = next;
				return h;
			}
			/* looks like our boundary but is not */
			m->flag[F_UNMATCHED_BOUNDARY] = true;
		}
		from = h + 1;
	}
	*kind = 0;
	*after = m->n;
	return m->n;
}

static int set_flags(struct mp *m)
{
	struct waf_tx *tx = m->tx;
	if (m->seen_lf)
		m->flag[F_LF_LINE] = true;
	if (m->seen_lf && m->seen_crlf)
		m->flag[F_CRLF_LF_LINES] = true;
	bool strict = m->err != NULL;
	for (int i = 0; i < F__COUNT; i++) {
		if (waf_scal_set(tx, flag_var[i], m->flag[i] ? "1" : "0", 1))
			return -1;
		if (m->flag[i] && i != F_UNMATCHED_BOUNDARY &&
		    i != F_CRLF_LF_LINES)
			strict = true;
	}
	if (waf_scal_set(tx, WAF_VAR_MULTIPART_STRICT_ERROR,
			 strict ? "1" : "0", 1))
		return -1;
	if (m->bnd[0] &&
	    waf_scal_set(tx, WAF_VAR_MULTIPART_BOUNDARY_QUOTED,
			 m->flag[F_BOUNDARY_QUOTED] ? "1" : "0", 1))
		return -1;
	if (!m->err)
		return 0;
	char msg[300];
	int l = bw_snprintf(msg, sizeof(msg), "Multipart parsing error: %s",
			    m->err);
	if (l < 0)
		l = (int)strlen(msg);
	if (waf_scal_set(tx, WAF_VAR_REQBODY_ERROR, "1", 1) ||
	    waf_scal_set(tx, WAF_VAR_REQBODY_PROCESSOR_ERROR, "1", 1) ||
	    waf_scal_set(tx, WAF_VAR_REQBODY_ERROR_MSG, msg, (size_t)l) ||
	    waf_scal_set(tx, WAF_VAR_REQBODY_PROCESSOR_ERROR_MSG, msg, (size_t)l))
		return -1;
	return 1;
}

static void parse(struct mp *m)
{
	int kind;
	size_t after;
	size_t first = find_boundary(m, 0, &kind, &after);
	/* The preamble may hold only a line end (clients send one). */
	if (first == m->n) {
		m->err = "Multipart: Final boundary missing.";
		if (m->n)
			m->flag[F_DATA_BEFORE] = true;
		return;
	}
	if (first > 0)
		m->flag[F_DATA_BEFORE] = true;
	size_t pos = after;
	while (kind == 1) {
		if (m->parts >= WAF_MULTIPART_PARTS_MAX) {
			m->err = "Multipart: Too many parts.";
			return;
		}
		m->parts++;
		reset_part(m);
		int rc = read_headers(m, &pos);
		if (rc == 0)
			rc = end_headers(m);
		if (rc)
			return;
		size_t ds = pos;
		size_t b = find_boundary(m, pos, &kind, &after);
		if (b == m->n) {
			m->err = "Multipart: Final boundary missing.";
			return;
		}
		/* the line end before the boundary belongs to it */
		size_t de = b;
		if (de > ds && m->b[de - 1] == '\n') {
			de--;
			if (de > ds && m->b[de - 1] == '\r')
				de--;
		}
		if (add_part(m, ds, de) != 0) {
			m->err = m->tx->oom ? "out of memory" : m->err;
			return;
		}
		pos = after;
	}
	/* after the final boundary: anything but line ends is data */
	for (size_t k = pos; k < m->n; k++)
		if (m->b[k] != '\r' && m->b[k] != '\n') {
			m->flag[F_DATA_AFTER] = true;
			break;
		}
}

int waf_body_multipart(struct waf_tx *tx, const char *body, size_t n)
{
	struct mp *m = bw_arena_zalloc(tx->arena, sizeof(*m));
	if (!m) {
		tx->oom = true;
		return -1;
	}
	m->tx = tx;
	m->b = body;
	m->n = n;
	if (get_boundary(m) == 0)
		parse(m);
	if (tx->oom)
		return -1;
	return set_flags(m);
}
