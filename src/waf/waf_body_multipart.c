/*
 * waf_body_multipart.c — the multipart/form-data request body processor
 * with ModSecurity's strict validation flags.
 *
 * The whole body is in memory (bounded by the request body limit). The
 * parser walks it line by line over (pointer, length) — it never reads
 * past the body and needs no NUL terminator — with the same states as
 * ModSecurity v3: before the first boundary, part headers, part data,
 * complete. Boundary lines must be exactly "--B" or "--B--" followed by
 * CRLF or LF; anything else that starts with "--B" is an error.
 *
 * Variables as v3 3.0.9 fills them: form fields go to ARGS and ARGS_POST
 * (not to the *_NAMES collections); a part with a non-empty filename is a
 * file: FILES and FILES_TMP_CONTENT keyed by file name, FILES_NAMES and
 * FILES_SIZES keyed by field name, FILES_COMBINED_SIZE. Uploads are
 * inspected in memory and never written to disk (FILES_TMPNAMES stays
 * empty). Every part header goes to MULTIPART_PART_HEADERS keyed by part
 * name as "Name: value".
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
 * MISSING_SEMICOLON is about the Content-Type header (no ';' before
 * boundary=), as in v3. A structural error (bad boundary in Content-Type
 * or in the body, missing or malformed Content-Disposition, missing name,
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

enum mp_state { ST_PREAMBLE, ST_HEADERS, ST_DATA, ST_COMPLETE };

struct mp {
	struct waf_tx *tx;
	const char *b; /* body */
	size_t n;
	const char *bnd; /* boundary (without "--") */
	size_t blen;
	char *dbnd;      /* "--" + boundary */
	bool flag[F__COUNT];
	bool seen_crlf, seen_lf;
	bool error;      /* m_flag_error: counts for STRICT_ERROR */
	const char *err; /* message for REQBODY_ERROR_MSG, NULL if none */
	unsigned files, parts, boundaries;
	uint64_t files_size;
	enum mp_state st;
	size_t data_start; /* ST_DATA: first byte of the part's data */
	/* current part */
	struct mp_hdr hdr[64];
	size_t nhdr;
	size_t hdr_bytes;
	struct bw_str name, filename;
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_space(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

static int fail(struct mp *m, const char *msg)
{
	m->error = true;
	if (!m->err)
		m->err = msg;
	return -1;
}

/* RFC 2046 boundary characters; a space is allowed but not last. */
static bool boundary_chars_ok(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if ((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'))
			continue;
		if (c == ' ' && i + 1 < n)
			continue;
		if (!strchr("'()+_,-./:=?", c) || c == 0)
			return false;
	}
	return true;
}

/* Occurrences of "boundary" (any case) with an '=' somewhere after. */
static unsigned count_boundary_params(const char *p, size_t n)
{
	unsigned c = 0;
	for (size_t i = 0; i + 8 <= n; i++) {
		if (strncasecmp(p + i, "boundary", 8) != 0)
			continue;
		if (memchr(p + i + 8, '=', n - i - 8))
			c++;
		i += 7;
	}
	return c;
}

/* The Content-Type header, as ModSecurity v3 reads it. */
static int get_boundary(struct mp *m)
{
	const struct waf_kv *ct = waf_col_get(m->tx, WAF_VAR_REQUEST_HEADERS,
					      BW_STR("Content-Type"));
	if (!ct)
		return fail(m, "Multipart: Content-Type header not available.");
	const char *s = ct->val.p;
	size_t n = ct->val.len;
	if (n > 1024)
		return fail(m, "Multipart: Invalid boundary in C-T (length).");
	if (n < 19 || strncasecmp(s, "multipart/form-data", 19) != 0)
		return fail(m, "Multipart: Invalid MIME type.");
	if (count_boundary_params(s, n) > 1)
		return fail(m, "Multipart: Multiple boundary parameters in C-T.");
	const char *bp = memmem(s, n, "boundary", 8);
	if (!bp) {
		if (count_boundary_params(s, n) > 0)
			return fail(m, "Multipart: Invalid boundary in C-T (case "
				       "sensitivity).");
		return fail(m, "Multipart: Boundary not found in C-T.");
	}
	bool semi = false;
	for (const char *p = s + 19; p < bp; p++) {
		if (is_space(*p))
			continue;
		if (*p == ';' && !semi) {
			semi = true;
			continue;
		}
		return fail(m, "Multipart: Invalid boundary in C-T (malformed).");
	}
	if (!semi)
		m->flag[F_MISSING_SEMICOLON] = true;
	const char *end = s + n;
	const char *eq = memchr(bp + 8, '=', (size_t)(end - bp - 8));
	if (!eq)
		return fail(m, "Multipart: Invalid boundary in C-T (malformed).");
	for (const char *p = bp + 8; p < eq; p++) {
		if (!is_space(*p))
			return fail(m, "Multipart: Invalid boundary in C-T "
				       "(parameter name).");
		m->flag[F_BOUNDARY_WHITESPACE] = true;
	}
	const char *v = eq + 1;
	size_t vl = (size_t)(end - v);
	if (vl && is_space(*v))
		m->flag[F_BOUNDARY_WHITESPACE] = true;
	/* the value runs to the end of the header, other parameters
	 * included (which then fail the character check) */
	if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
		v++;
		vl -= 2;
		m->flag[F_BOUNDARY_QUOTED] = true;
	} else if ((vl && v[0] == '"') || (vl >= 2 && v[vl - 1] == '"')) {
		return fail(m, "Multipart: Invalid boundary in C-T (quote).");
	}
	if (vl == 0)
		return fail(m, "Multipart: Invalid boundary in C-T (empty).");
	if (count_boundary_params(v, vl) != 0)
		return fail(m, "Multipart: Invalid boundary in C-T (content).");
	if (!boundary_chars_ok(v, vl))
		return fail(m, "Multipart: Invalid boundary in C-T (characters).");
	m->bnd = v;
	m->blen = vl;
	m->dbnd = bw_arena_alloc(m->tx->arena, vl + 2);
	if (!m->dbnd) {
		m->tx->oom = true;
		return -1;
	}
	m->dbnd[0] = m->dbnd[1] = '-';
	memcpy(m->dbnd + 2, v, vl);
	return 0;
}

static bool token_char(unsigned char c)
{
	if (c <= 32 || c >= 127)
		return false;
	return !strchr("()<>@,;:\\\"/[]?=", c);
}

static void check_quotes(struct mp *m, struct bw_str v)
{
	if (memchr(v.p, '\'', v.len))
		m->flag[F_INVALID_QUOTING] = true;
}

/* Content-Disposition: form-data; name="..."; filename="..." (v3 rules:
 * case-sensitive form-data and parameter names, ' quoting allowed but
 * flagged, no trailing ';'). 0 or -1. */
static int parse_cd(struct mp *m, struct bw_str hv)
{
	const char *p = hv.p, *end = hv.p + hv.len;
	if (hv.len < 9 || memcmp(p, "form-data", 9) != 0)
		return -1;
	p += 9;
	while (p < end && is_blank(*p))
		p++;
	if (p == end)
		return 0;
	if (*p != ';')
		return -1;
	p++;
	while (p < end) {
		while (p < end && is_blank(*p))
			p++;
		if (p == end)
			return -1; /* trailing ';' */
		const char *ns = p;
		while (p < end && *p != '=' && !is_blank(*p))
			p++;
		if (p == end)
			return -1;
		struct bw_str pn = bw_str_make(ns, (size_t)(p - ns));
		while (p < end && is_blank(*p))
			p++;
		if (p == end || *p != '=')
			return -1;
		p++;
		while (p < end && is_blank(*p))
			p++;
		if (p == end)
			return -1;
		char *val = bw_arena_alloc(m->tx->arena, (size_t)(end - p) + 1);
		if (!val) {
			m->tx->oom = true;
			return -1;
		}
		size_t vl = 0;
		if (*p == '"' || *p == '\'') {
			char q = *p++;
			if (q == '\'')
				m->flag[F_INVALID_QUOTING] = true;
			if (p == end)
				return -1;
			while (p < end && *p != q) {
				if (*p == '\\') {
					if (p + 1 == end)
						return -1;
					if (p[1] == q || p[1] == '\\')
						p++;
				}
				val[vl++] = *p++;
			}
			if (p < end)
				p++; /* closing quote */
		} else {
			while (p < end && token_char((unsigned char)*p))
				val[vl++] = *p++;
		}
		val[vl] = 0;
		struct bw_str v = bw_str_make(val, vl);
		if (bw_str_eq_lit(pn, "name")) {
			check_quotes(m, v);
			if (m->name.len)
				return -1; /* duplicate name */
			m->name = v;
		} else if (bw_str_eq_lit(pn, "filename")) {
			check_quotes(m, v);
			if (m->filename.len)
				return -1;
			m->filename = v;
		} else {
			return -1; /* unknown parameter */
		}
		if (p == end)
			return 0;
		while (p < end && is_blank(*p))
			p++;
		if (p == end)
			return 0;
		if (*p != ';') {
			if (p[-1] == '\'' || p[-1] == '"')
				m->flag[F_INVALID_QUOTING] = true;
			return -1;
		}
		p++;
	}
	return 0;
}

static void reset_part(struct mp *m)
{
	m->nhdr = 0;
	m->hdr_bytes = 0;
	m->name = m->filename = bw_str_make("", 0);
}

static const struct mp_hdr *find_hdr(const struct mp *m, const char *name)
{
	for (size_t i = 0; i < m->nhdr; i++)
		if (bw_str_caseeq_lit(m->hdr[i].name, name))
			return &m->hdr[i];
	return NULL;
}

/* A part header line [s, e) (without its line end). 0 or -1. */
static int header_line(struct mp *m, size_t s, size_t e)
{
	if (memchr(m->b + s, 0, e - s))
		return fail(m, "Multipart: Nul byte in part headers.");
	m->hdr_bytes += e - s;
	if (e - s > WAF_MULTIPART_HEADER_LINE_MAX ||
	    m->hdr_bytes > WAF_MULTIPART_HEADERS_MAX)
		return fail(m, "Multipart: Part header too long.");
	if (is_space(m->b[s])) {
		m->flag[F_HEADER_FOLDING] = true;
		size_t k = s;
		while (k < e && is_space(m->b[k])) {
			if (!is_blank(m->b[k]))
				m->flag[F_INVALID_HEADER_FOLDING] = true;
			k++;
		}
		if (m->nhdr == 0)
			return fail(m, "Multipart: Invalid part header (folding "
				       "error).");
		struct mp_hdr *h = &m->hdr[m->nhdr - 1];
		size_t nl = h->value.len + 1 + (e - k);
		char *d = bw_arena_alloc(m->tx->arena, nl + 1);
		if (!d) {
			m->tx->oom = true;
			return -1;
		}
		memcpy(d, h->value.p, h->value.len);
		d[h->value.len] = ' ';
		memcpy(d + h->value.len + 1, m->b + k, e - k);
		d[nl] = 0;
		h->value = bw_str_make(d, nl);
		return 0;
	}
	const char *colon = memchr(m->b + s, ':', e - s);
	if (!colon)
		return fail(m, "Multipart: Invalid part header (colon missing).");
	if (colon == m->b + s)
		return fail(m, "Multipart: Invalid part header (header name "
			       "missing).");
	struct bw_str name = bw_str_make(m->b + s, (size_t)(colon - (m->b + s)));
	for (size_t i = 0; i < m->nhdr; i++)
		if (m->hdr[i].name.len == name.len &&
		    strncasecmp(m->hdr[i].name.p, name.p, name.len) == 0) {
			/* v3 stops without a message here */
			m->error = true;
			return -1;
		}
	if (m->nhdr >= BW_ARRAY_LEN(m->hdr))
		return fail(m, "Multipart: Too many part headers.");
	const char *v = colon + 1, *ve = m->b + e;
	while (v < ve && is_blank(*v))
		v++;
	m->hdr[m->nhdr++] = (struct mp_hdr){ name,
					     bw_str_make(v, (size_t)(ve - v)) };
	return 0;
}

/* The blank line after the part headers. 0 or -1. */
static int end_headers(struct mp *m)
{
	const struct mp_hdr *cd = find_hdr(m, "Content-Disposition");
	if (!cd)
		return fail(m, "Multipart: Part missing Content-Disposition "
			       "header.");
	if (parse_cd(m, cd->value) != 0) {
		if (m->tx->oom)
			return -1;
		return fail(m, "Multipart: Invalid Content-Disposition header.");
	}
	if (!m->name.len)
		return fail(m, "Multipart: Content-Disposition header missing "
			       "name field.");
	if (m->filename.len && !memmem(cd->value.p, cd->value.len, "filename=", 9))
		return fail(m, "Multipart: Invalid Content-Disposition header "
			       "(filename).");
	return 0;
}

static int add_part(struct mp *m, size_t ds, size_t de)
{
	struct waf_tx *tx = m->tx;
	const char *pn = m->name.p;
	size_t pnl = m->name.len;
	for (size_t i = 0; i < m->nhdr; i++) {
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
		h[hl] = 0;
		if (waf_col_add(tx, WAF_VAR_MULTIPART_PART_HEADERS, pn, pnl, h,
				hl))
			return -1;
	}
	if (waf_scal_set(tx, WAF_VAR_MULTIPART_NAME, pn, pnl))
		return -1;
	if (!m->filename.len) {
		char *v = waf_tx_strdup(tx, m->b + ds, de - ds);
		char *k = waf_tx_strdup(tx, pn, pnl);
		if (!v || !k)
			return -1;
		if (waf_col_add(tx, WAF_VAR_ARGS, k, pnl, v, de - ds) ||
		    waf_col_add(tx, WAF_VAR_ARGS_POST, k, pnl, v, de - ds))
			return -1;
		return 0;
	}
	if (waf_scal_set(tx, WAF_VAR_MULTIPART_FILENAME, m->filename.p,
			 m->filename.len))
		return -1;
	/* v3 counts files only when it stores them (SecUploadKeepFiles) */
	uint64_t lim = tx->rs->settings.upload_file_limit;
	if (tx->rs->settings.upload_keep_files == WAF_ON && lim &&
	    m->files >= lim) {
		m->flag[F_FILE_LIMIT_EXCEEDED] = true;
		return 0;
	}
	m->files++;
	m->files_size += de - ds;
	char sz[24];
	int l = bw_snprintf(sz, sizeof(sz), "%zu", de - ds);
	const char *fn = m->filename.p;
	size_t fl = m->filename.len;
	if (waf_col_add(tx, WAF_VAR_FILES, fn, fl, fn, fl) ||
	    waf_col_add(tx, WAF_VAR_FILES_NAMES, pn, pnl, pn, pnl) ||
	    waf_col_add(tx, WAF_VAR_FILES_SIZES, pn, pnl, sz, (size_t)l) ||
	    waf_col_add(tx, WAF_VAR_FILES_TMP_CONTENT, fn, fl, m->b + ds,
			de - ds) ||
	    waf_scal_set_num(tx, WAF_VAR_FILES_COMBINED_SIZE,
			     (int64_t)m->files_size))
		return -1;
	return 0;
}

/* A boundary line at line_start: close the part being built, open the
 * next (unless final). 0 or -1. */
static int on_boundary(struct mp *m, size_t line_start, bool final)
{
	if (m->st == ST_HEADERS) {
		/* headers never ended: v3 skips the part and flags it */
		m->flag[F_INVALID_PART] = true;
	} else if (m->st == ST_DATA) {
		size_t de = line_start;
		if (de > m->data_start && m->b[de - 1] == '\n') {
			de--;
			if (de > m->data_start && m->b[de - 1] == '\r')
				de--;
		}
		if (add_part(m, m->data_start, de) != 0)
			return -1;
	}
	m->boundaries++;
	if (final) {
		m->st = ST_COMPLETE;
		return 0;
	}
	if (++m->parts > WAF_MULTIPART_PARTS_MAX)
		return fail(m, "Multipart: Too many parts.");
	reset_part(m);
	m->st = ST_HEADERS;
	return 0;
}

/* Lines starting with "--": 1 boundary handled, 0 not a boundary (data),
 * -1 error. [s, e) is the line including its terminator. */
static int try_boundary(struct mp *m, size_t s, size_t e, bool last_line)
{
	const char *l = m->b + s;
	size_t n = e - s;
	if (n <= 3 || l[0] != '-' || l[1] != '-') {
		/* does "--boundary" appear inside the line? (memmem keeps
		 * this linear in the line for any boundary length) */
		if (!m->flag[F_UNMATCHED_BOUNDARY] &&
		    memmem(l, n, m->dbnd, m->blen + 2))
			m->flag[F_UNMATCHED_BOUNDARY] = true;
		return 0;
	}
	if (n >= m->blen + 2 && memcmp(l + 2, m->bnd, m->blen) == 0) {
		size_t k = 2 + m->blen;
		bool final = false;
		if (k + 1 < n && l[k] == '-' && l[k + 1] == '-') {
			final = true;
			k += 2;
			if (m->st == ST_COMPLETE)
				return fail(m, "Multipart: Invalid boundary (final "
					       "duplicate).");
		}
		if (k + 2 == n && l[k] == '\r' && l[k + 1] == '\n') {
			m->seen_crlf = true;
		} else if (k + 1 == n && l[k] == '\n') {
			m->seen_lf = true;
		} else if (!(final && k == n && last_line)) {
			return fail(m, "Multipart: Invalid boundary.");
		}
		return on_boundary(m, s, final) == 0 ? 1 : -1;
	}
	if (m->flag[F_BOUNDARY_QUOTED] && n >= m->blen + 3 && l[2] == '"' &&
	    memcmp(l + 3, m->bnd, m->blen) == 0)
		return fail(m, "Multipart: Invalid boundary (quotes).");
	size_t k = 2;
	while (k < n && is_space(l[k]))
		k++;
	if (k != 2 && n - k >= m->blen && memcmp(l + k, m->bnd, m->blen) == 0)
		return fail(m, "Multipart: Invalid boundary (whitespace).");
	m->flag[F_UNMATCHED_BOUNDARY] = true;
	return 0;
}

static void parse(struct mp *m)
{
	size_t pos = 0;
	m->st = ST_PREAMBLE;
	while (pos < m->n) {
		if (m->st == ST_COMPLETE) {
			m->flag[F_DATA_AFTER] = true;
			return;
		}
		const char *nl = memchr(m->b + pos, '\n', m->n - pos);
		size_t e = nl ? (size_t)(nl - m->b) + 1 : m->n;
		int r = try_boundary(m, pos, e, nl == NULL);
		if (r < 0)
			return;
		if (r == 0) {
			switch (m->st) {
			case ST_PREAMBLE:
				m->flag[F_DATA_BEFORE] = true;
				break;
			case ST_HEADERS: {
				size_t le = e;
				if (le > pos && m->b[le - 1] == '\n') {
					le--;
					if (le > pos && m->b[le - 1] == '\r') {
						le--;
						m->seen_crlf = true;
					} else {
						m->seen_lf = true;
					}
				} else {
					m->seen_lf = true;
				}
				if (le == pos) {
					if (end_headers(m) != 0)
						return;
					m->st = ST_DATA;
					m->data_start = e;
				} else if (header_line(m, pos, le) != 0) {
					return;
				}
				break;
			}
			default:
				break; /* ST_DATA: data is sliced at the boundary */
			}
		}
		pos = e;
	}
	if (m->n && m->st != ST_COMPLETE)
		fail(m, m->boundaries ? "Multipart: Final boundary missing."
				      : "Multipart: No boundaries found in "
					"payload.");
}

static int set_flags(struct mp *m)
{
	struct waf_tx *tx = m->tx;
	if (m->seen_lf)
		m->flag[F_LF_LINE] = true;
	if (m->seen_lf && m->seen_crlf)
		m->flag[F_CRLF_LF_LINES] = true;
	bool strict = m->error;
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
