/*
 * waf_tfn.c — the SecLang transformation functions (t:...) and the cached
 * application of a rule's transformation chain.
 *
 * Each transformation is a pure function from (in, len) to a caller
 * buffer of at least waf_tfn_max_out(t, len) bytes; none reads past len
 * or writes past that bound, and none needs a NUL terminator. Behaviour
 * follows the ModSecurity v3 reference manual, including its quirks
 * (htmlEntityDecode and jsDecode keep only the low byte of a code point,
 * urlDecodeUni maps %uFFxx full-width forms to ASCII, cmdLine's rules).
 *
 * Caching: every stored value of a transaction has a value id (vid);
 * the transaction keeps, per chain prefix id, the results indexed by vid
 * (chunked arrays, so a rule walking ARGS reads consecutive memory).
 * Prefix ids are assigned at rule-set load so that
 * "t:urlDecodeUni,t:lowercase" in one rule shares its first step with
 * "t:urlDecodeUni,t:htmlEntityDecode" in another. Values computed on the
 * fly (counts, XML node texts, MATCHED_VARS) have vid 0 and are not
 * cached.
 */
#include "waf/waf_int.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>

static bool is_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

static unsigned hexval(unsigned char c)
{
	if (c <= '9')
		return (unsigned)(c - '0');
	return (unsigned)((c | 0x20) - 'a' + 10);
}

static unsigned char x2c(const unsigned char *p)
{
	return (unsigned char)((hexval(p[0]) << 4) | hexval(p[1]));
}

/* C isspace in the "C" locale, plus nothing else. */
static bool is_space(unsigned char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

static bool is_odigit(unsigned char c)
{
	return c >= '0' && c <= '7';
}

/* ------------------------------------------------------------ decoders */

static size_t t_url_decode(const unsigned char *in, size_t n,
			   unsigned char *o)
{
	size_t j = 0;
	for (size_t i = 0; i < n;) {
		if (in[i] == '%' && i + 2 < n && is_hex(in[i + 1]) && is_hex(in[i + 2])) {
			o[j++] = x2c(in + i + 1);
			i += 3;
		} else if (in[i] == '+') {
			o[j++] = ' ';
			i++;
		} else {
			o[j++] = in[i++];
		}
	}
	return j;
}

static size_t t_url_decode_uni(const unsigned char *in, size_t n,
			       unsigned char *o)
{
	size_t j = 0;
	for (size_t i = 0; i < n;) {
		if (in[i] == '%') {
			if (i + 1 < n && (in[i + 1] | 0x20) == 'u') {
				if (i + 5 < n && is_hex(in[i + 2]) &&
				    is_hex(in[i + 3]) && is_hex(in[i + 4]) &&
				    is_hex(in[i + 5])) {
					unsigned char c = x2c(in + i + 4);
					/* Full-width ASCII U+FF01..U+FF5E
					 * maps to U+0021..U+007E. */
					if (c > 0 && c < 0x5f &&
					    (in[i + 2] | 0x20) == 'f' &&
					    (in[i + 3] | 0x20) == 'f')
						c = (unsigned char)(c + 0x20);
					o[j++] = c;
					i += 6;
				} else {
					/* Invalid %u: keep "%u" as is. */
					o[j++] = in[i++];
					o[j++] = in[i++];
				}
			} else if (i + 2 < n && is_hex(in[i + 1]) &&
				   is_hex(in[i + 2])) {
				o[j++] = x2c(in + i + 1);
				i += 3;
			} else {
				o[j++] = in[i++];
			}
		} else if (in[i] == '+') {
			o[j++] = ' ';
			i++;
		} else {
			o[j++] = in[i++];
		}
	}
	return j;
}

/*
 * HTML character references: &#DDD; &#xHH; and the five named entities
 * ModSecurity knows (quot amp lt gt nbsp). The semicolon is optional;
 * numeric references keep only their low byte; anything else is copied.
 */
static size_t t_html_entity_decode(const unsigned char *in, size_t n,
				   unsigned char *o)
{
	size_t j = 0, i = 0;
	while (i < n) {
		if (in[i] != '&' || i + 1 >= n) {
			o[j++] = in[i++];
			continue;
		}
		size_t k = i + 1;
		if (in[k] == '#') {
			k++;
			bool hex = k < n && (in[k] | 0x20) == 'x';
			if (hex)
				k++;
			size_t s = k;
			unsigned long v = 0;
			while (k < n && (hex ? is_hex(in[k])
					     : (in[k] >= '0' && in[k] <= '9'))) {
				v = hex ? (v << 4) | hexval(in[k])
					: v * 10 + (unsigned)(in[k] - '0');
				v &= 0xffffffful; /* only the low byte is kept */
				k++;
			}
			if (k == s) { /* "&#" or "&#x" without digits */
				o[j++] = in[i++];
				continue;
			}
			o[j++] = (unsigned char)v;
			if (k < n && in[k] == ';')
				k++;
			i = k;
			continue;
		}
		size_t s = k;
		while (k < n && ((in[k] | 0x20) >= 'a' && (in[k] | 0x20) <= 'z'))
			k++;
		size_t l = k - s;
		int c = -1;
		if (l == 4 && strncasecmp((const char *)in + s, "quot", 4) == 0)
			c = '"';
		else if (l == 3 && strncasecmp((const char *)in + s, "amp", 3) == 0)
			c = '&';
		else if (l == 2 && strncasecmp((const char *)in + s, "lt", 2) == 0)
			c = '<';
		else if (l == 2 && strncasecmp((const char *)in + s, "gt", 2) == 0)
			c = '>';
		else if (l == 4 && strncasecmp((const char *)in + s, "nbsp", 4) == 0)
			c = 0xa0;
		if (c < 0) {
			o[j++] = in[i++];
			continue;
		}
		o[j++] = (unsigned char)c;
		if (k < n && in[k] == ';')
			k++;
		i = k;
	}
	return j;
}

/* JavaScript escapes: \xHH, \uHHHH (low byte, full-width mapped), the
 * single-character escapes, octal \NNN (max 0377), and \c -> c. */
static size_t t_js_decode(const unsigned char *in, size_t n, unsigned char *o)
{
	size_t j = 0, i = 0;
	while (i < n) {
		if (in[i] != '\\' || i + 1 >= n) {
			o[j++] = in[i++];
			continue;
		}
		unsigned char c = in[i + 1];
		if ((c | 0x20) == 'u' && i + 5 < n && is_hex(in[i + 2]) &&
		    is_hex(in[i + 3]) && is_hex(in[i + 4]) && is_hex(in[i + 5])) {
			unsigned char b = x2c(in + i + 4);
			if (b > 0 && b < 0x5f && (in[i + 2] | 0x20) == 'f' &&
			    (in[i + 3] | 0x20) == 'f')
				b = (unsigned char)(b + 0x20);
			o[j++] = b;
			i += 6;
		} else if (c == 'x' && i + 3 < n && is_hex(in[i + 2]) &&
			   is_hex(in[i + 3])) {
			o[j++] = x2c(in + i + 2);
			i += 4;
		} else if (is_odigit(c)) {
			/* up to three octal digits, value at most 0377 */
			size_t k = i + 1;
			unsigned v = 0, d = 0;
			while (k < n && d < 3 && is_odigit(in[k])) {
				unsigned nv = v * 8 + (unsigned)(in[k] - '0');
				if (nv > 0377)
					break;
				v = nv;
				k++;
				d++;
			}
			o[j++] = (unsigned char)v;
			i = k;
		} else {
			switch (c) {
			case 'a': c = '\a'; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 't': c = '\t'; break;
			case 'v': c = '\v'; break;
			default: break; /* \c -> c, also \\ \' \" */
			}
			o[j++] = c;
			i += 2;
		}
	}
	return j;
}

/* CSS 2.1 escapes: backslash + 1..6 hex digits (low byte kept, full-width
 * U+FFxx mapped to ASCII) optionally followed by one whitespace; backslash
 * + newline is a line continuation (removed); backslash + other -> other. */
static size_t t_css_decode(const unsigned char *in, size_t n, unsigned char *o)
{
	size_t j = 0, i = 0;
	while (i < n) {
		if (in[i] != '\\') {
			o[j++] = in[i++];
			continue;
		}
		if (i + 1 >= n) { /* trailing backslash is dropped */
			i++;
			continue;
		}
		size_t k = i + 1, d = 0;
		while (k < n && d < 6 && is_hex(in[k])) {
			k++;
			d++;
		}
		if (d > 0) {
			const unsigned char *h = in + i + 1;
			unsigned char b;
			if (d == 1)
				b = (unsigned char)hexval(h[0]);
			else
				b = x2c(h + d - 2);
			/* Full-width: 5 or 6 digits ending in FFxx. */
			if ((d == 5 || d == 6) && b > 0 && b < 0x5f &&
			    (h[d - 4] | 0x20) == 'f' && (h[d - 3] | 0x20) == 'f')
				b = (unsigned char)(b + 0x20);
			/* 4 digits "00xx" etc. fall out of the low-byte rule */
			o[j++] = b;
			if (k < n && is_space(in[k]))
				k++;
			i = k;
		} else if (in[i + 1] == '\n') {
			i += 2;
		} else {
			o[j++] = in[i + 1];
			i += 2;
		}
	}
	return j;
}

/* ANSI C escape sequences. */
static size_t t_escape_seq_decode(const unsigned char *in, size_t n,
				  unsigned char *o)
{
	size_t j = 0, i = 0;
	while (i < n) {
		if (in[i] != '\\' || i + 1 >= n) {
			o[j++] = in[i++];
			continue;
		}
		unsigned char c = in[i + 1];
		int r = -1;
		switch (c) {
		case 'a': r = '\a'; break;
		case 'b': r = '\b'; break;
		case 'f': r = '\f'; break;
		case 'n': r = '\n'; break;
		case 'r': r = '\r'; break;
		case 't': r = '\t'; break;
		case 'v': r = '\v'; break;
		case '\\': r = '\\'; break;
		case '?': r = '?'; break;
		case '\'': r = '\''; break;
		case '"': r = '"'; break;
		default: break;
		}
		if (r >= 0) {
			o[j++] = (unsigned char)r;
			i += 2;
		} else if ((c == 'x' || c == 'X') && i + 3 < n &&
			   is_hex(in[i + 2]) && is_hex(in[i + 3])) {
			o[j++] = x2c(in + i + 2);
			i += 4;
		} else if (is_odigit(c)) {
			size_t k = i + 1, d = 0;
			unsigned v = 0;
			while (k < n && d < 3 && is_odigit(in[k])) {
				v = v * 8 + (unsigned)(in[k] - '0');
				k++;
				d++;
			}
			o[j++] = (unsigned char)v;
			i = k;
		} else {
			/* unknown escape: keep both characters */
			o[j++] = in[i++];
			o[j++] = in[i++];
		}
	}
	return j;
}

static size_t t_hex_decode(const unsigned char *in, size_t n, unsigned char *o)
{
	size_t j = 0;
	for (size_t i = 0; i + 1 < n; i += 2) {
		if (!is_hex(in[i]) || !is_hex(in[i + 1])) {
			/* not hex: the pair is kept as is */
			o[j++] = in[i];
			o[j++] = in[i + 1];
			continue;
		}
		o[j++] = x2c(in + i);
	}
	if (n & 1)
		o[j++] = in[n - 1];
	return j;
}

/* 0x414243 -> ABC; anything that is not 0x + an even run of hex stays. */
static size_t t_sql_hex_decode(const unsigned char *in, size_t n,
			       unsigned char *o)
{
	size_t j = 0, i = 0;
	while (i < n) {
		if (in[i] == '0' && i + 3 < n && (in[i + 1] | 0x20) == 'x' &&
		    is_hex(in[i + 2]) && is_hex(in[i + 3])) {
			i += 2;
			while (i + 1 < n && is_hex(in[i]) && is_hex(in[i + 1])) {
				o[j++] = x2c(in + i);
				i += 2;
			}
		} else {
			o[j++] = in[i++];
		}
	}
	return j;
}

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict base64: decoding stops at the first character outside the
 * alphabet (padding included); ext skips such characters instead. */
static size_t t_base64_decode(const unsigned char *in, size_t n,
			      unsigned char *o, bool ext)
{
	size_t j = 0;
	unsigned acc = 0, bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64val(in[i]);
		if (v < 0) {
			if (ext || in[i] == '=') {
				if (!ext)
					break;
				continue;
			}
			break;
		}
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			o[j++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	return j;
}

static size_t t_base64_encode(const unsigned char *in, size_t n,
			      unsigned char *o)
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t j = 0, i = 0;
	for (; i + 2 < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 |
			     in[i + 2];
		o[j++] = (unsigned char)al[v >> 18];
		o[j++] = (unsigned char)al[(v >> 12) & 63];
		o[j++] = (unsigned char)al[(v >> 6) & 63];
		o[j++] = (unsigned char)al[v & 63];
	}
	if (i < n) {
		unsigned v = (unsigned)in[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)in[i + 1] << 8;
		o[j++] = (unsigned char)al[v >> 18];
		o[j++] = (unsigned char)al[(v >> 12) & 63];
		o[j++] = i + 1 < n ? (unsigned char)al[(v >> 6) & 63] : '=';
		o[j++] = '=';
	}
	return j;
}

/* ---------------------------------------------------------- normalisers */

/*
 * cmdLine (for Windows and Unix command lines): delete \ " ' ^; delete
 * spaces before / and (; replace , and ; by a space; collapse whitespace
 * runs to one space; lowercase.
 */
static size_t t_cmd_line(const unsigned char *in, size_t n, unsigned char *o)
{
	size_t j = 0;
	bool space = false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = in[i];
		switch (c) {
		case '"':
		case '\'':
		case '\\':
		case '^':
			continue;
		case ' ':
		case ',':
		case ';':
		case '\t':
		case '\r':
		case '\n':
			if (!space) {
				o[j++] = ' ';
				space = true;
			}
			continue;
		case '/':
		case '(':
			/* a space before / or ( goes */
			if (space && j > 0)
				j--;
			space = false;
			o[j++] = c;
			continue;
		default:
			space = false;
			o[j++] = (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
		}
	}
	return j;
}

static size_t t_compress_whitespace(const unsigned char *in, size_t n,
				    unsigned char *o)
{
	size_t j = 0;
	bool sp = false;
	for (size_t i = 0; i < n; i++) {
		if (is_space(in[i]) || in[i] == 0xa0) {
			if (!sp)
				o[j++] = ' ';
			sp = true;
		} else {
			o[j++] = in[i];
			sp = false;
		}
	}
	return j;
}

static size_t t_remove_whitespace(const unsigned char *in, size_t n,
				  unsigned char *o)
{
	size_t j = 0;
	for (size_t i = 0; i < n; i++)
		if (!is_space(in[i]) && in[i] != 0xa0)
			o[j++] = in[i];
	return j;
}

/*
 * Path normalisation as ModSecurity's normalize_path: collapse repeated
 * slashes, drop "." segments, resolve ".." against the previous segment
 * (a ".." at the start of a relative path is kept); a trailing slash is
 * kept. win: backslashes become slashes first.
 */
static size_t t_normalise_path(const unsigned char *in, size_t n,
			       unsigned char *o, bool win)
{
	size_t j = 0;
	bool absolute = n > 0 && (in[0] == '/' || (win && in[0] == '\\'));
	size_t i = 0;
	if (absolute) {
		o[j++] = '/';
		i = 1;
	}
	size_t base = j; /* segments above this cannot be removed */
	while (i <= n) {
		/* one segment [s, i) */
		size_t s = i;
		while (i < n && in[i] != '/' && !(win && in[i] == '\\'))
			i++;
		size_t l = i - s;
		bool last = i >= n;
		if (l == 0) {
			if (last)
				break;
			i++; /* repeated slash */
			continue;
		}
		if (l == 1 && in[s] == '.') {
			if (last)
				break;
			i++;
			continue;
		}
		if (l == 2 && in[s] == '.' && in[s + 1] == '.') {
			/* remove the previous segment if there is one */
			if (j > base) {
				size_t k = j;
				if (k > base && o[k - 1] == '/')
					k--;
				while (k > base && o[k - 1] != '/')
					k--;
				/* do not eat a previous ".." */
				if (!(j - k >= 2 && o[k] == '.' && o[k + 1] == '.' &&
				      (k + 2 == j || o[k + 2] == '/'))) {
					j = k;
					if (!last)
						i++;
					if (last)
						break;
					continue;
				}
			}
			if (absolute) { /* /.. -> / */
				if (last)
					break;
				i++;
				continue;
			}
			/* relative: keep the .. */
		}
		if (j > base && o[j - 1] != '/')
			o[j++] = '/';
		for (size_t k = s; k < s + l; k++)
			o[j++] = (win && in[k] == '\\') ? '/' : in[k];
		if (last)
			break;
		o[j++] = '/';
		i++;
	}
	/* keep a trailing slash only if the input had one */
	bool trail = n > 0 && (in[n - 1] == '/' || (win && in[n - 1] == '\\'));
	if (!trail && j > 1 && o[j - 1] == '/')
		j--;
	if (trail && j > 0 && o[j - 1] != '/')
		o[j++] = '/';
	return j;
}

/* removeComments: drop C (/ * ... * /), HTML (<!-- ... -->) comments and
 * everything after -- or # to the end of the line; an unterminated C or
 * HTML comment runs to the end of the input. */
static size_t t_remove_comments(const unsigned char *in, size_t n,
				unsigned char *o, bool replace)
{
	size_t j = 0, i = 0;
	while (i < n) {
		if (i + 1 < n && in[i] == '/' && in[i + 1] == '*') {
			size_t k = i + 2;
			while (k + 1 < n && !(in[k] == '*' && in[k + 1] == '/'))
				k++;
			i = (k + 1 < n) ? k + 2 : n;
			if (replace)
				o[j++] = ' ';
			continue;
		}
		if (replace) {
			o[j++] = in[i++];
			continue;
		}
		if (i + 3 < n && in[i] == '<' && in[i + 1] == '!' &&
		    in[i + 2] == '-' && in[i + 3] == '-') {
			size_t k = i + 4;
			while (k + 2 < n && !(in[k] == '-' && in[k + 1] == '-' &&
					      in[k + 2] == '>'))
				k++;
			i = (k + 2 < n) ? k + 3 : n;
			continue;
		}
		if ((i + 1 < n && in[i] == '-' && in[i + 1] == '-') ||
		    in[i] == '#') {
			while (i < n && in[i] != '\n' && in[i] != '\r')
				i++;
			continue;
		}
		o[j++] = in[i++];
	}
	return j;
}

static size_t t_remove_comments_char(const unsigned char *in, size_t n,
				     unsigned char *o)
{
	size_t j = 0, i = 0;
	while (i < n) {
		if (i + 3 < n && in[i] == '<' && in[i + 1] == '!' &&
		    in[i + 2] == '-' && in[i + 3] == '-') {
			i += 4;
		} else if (i + 2 < n && in[i] == '-' && in[i + 1] == '-' &&
			   in[i + 2] == '>') {
			i += 3;
		} else if (i + 1 < n && ((in[i] == '/' && in[i + 1] == '*') ||
					 (in[i] == '*' && in[i + 1] == '/') ||
					 (in[i] == '-' && in[i + 1] == '-'))) {
			i += 2;
		} else if (in[i] == '#') {
			i++;
		} else {
			o[j++] = in[i++];
		}
	}
	return j;
}

/*
 * UTF-8 multi-byte sequences -> %uXXXX (lowercase hex, at least four
 * digits), with ModSecurity v3's handling of bad input, which rules are
 * tuned against:
 *  - a lead byte whose sequence is truncated or has a bad continuation
 *    byte is dropped (the following bytes are then read on their own);
 *  - stray continuation bytes and bytes F8..FF are copied unchanged;
 *  - an overlong form or a UTF-16 surrogate is converted AND followed by
 *    its lead byte (so C0 AF becomes "%u002f" then 0xC0);
 *  - a lead byte F5..F7 is copied before its conversion;
 *  - NUL bytes are dropped (v3 treats the value as a C string there).
 */
static size_t put_u(unsigned char *o, size_t j, unsigned cp)
{
	static const char hx[] = "0123456789abcdef";
	int nd = cp > 0xfffff ? 6 : cp > 0xffff ? 5 : 4;
	o[j++] = '%';
	o[j++] = 'u';
	for (int d = nd - 1; d >= 0; d--)
		o[j++] = (unsigned char)hx[(cp >> (4 * d)) & 15];
	return j;
}

static size_t t_utf8_to_unicode(const unsigned char *in, size_t n,
				unsigned char *o)
{
	size_t j = 0, i = 0;
	while (i < n) {
		unsigned char c = in[i];
		if (c < 0x80) {
			if (c)
				o[j++] = c;
			i++;
			continue;
		}
		size_t l;
		unsigned min;
		if ((c & 0xe0) == 0xc0) {
			l = 2;
			min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			l = 3;
			min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			l = 4;
			min = 0x10000;
			if (c >= 0xf5)
				o[j++] = c;
		} else {
			o[j++] = c; /* continuation byte or F8..FF */
			i++;
			continue;
		}
		bool ok = i + l <= n;
		for (size_t k = 1; ok && k < l; k++)
			ok = (in[i + k] & 0xc0) == 0x80;
		if (!ok) {
			i++; /* the lead byte is dropped */
			continue;
		}
		unsigned cp = c & (l == 2 ? 0x1f : l == 3 ? 0x0f : 0x07);
		for (size_t k = 1; k < l; k++)
			cp = (cp << 6) | (in[i + k] & 0x3f);
		j = put_u(o, j, cp);
		if (cp >= 0xd800 && cp <= 0xdfff)
			o[j++] = c;
		if (cp < min)
			o[j++] = c;
		i += l;
	}
	return j;
}

static size_t t_url_encode(const unsigned char *in, size_t n, unsigned char *o)
{
	static const char hx[] = "0123456789abcdef";
	size_t j = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = in[i];
		if (c == ' ') {
			o[j++] = '+';
		} else if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
			   (c >= 'A' && c <= 'Z') || c == '*' || c == '-' ||
			   c == '.' || c == '_') {
			o[j++] = c;
		} else {
			o[j++] = '%';
			o[j++] = (unsigned char)hx[c >> 4];
			o[j++] = (unsigned char)hx[c & 15];
		}
	}
	return j;
}

/* OpenSSL 3 looks a digest up in its provider tables on every
 * EVP_Digest call given a name or a legacy EVP_MD (~100 k instructions,
 * a fifth of a CRS GET: 901318 hashes the User-Agent): fetch MD5 and
 * SHA-1 once per process and keep them. */
static EVP_MD *md_md5, *md_sha1;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void md_fetch(void)
{
	md_md5 = EVP_MD_fetch(NULL, "MD5", NULL);
	md_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
}

static size_t t_digest(bool sha1, const unsigned char *in, size_t n,
		       unsigned char *o)
{
	pthread_once(&md_once, md_fetch);
	const EVP_MD *md = sha1 ? md_sha1 : md_md5;
	unsigned int len = 0;
	if (!md || EVP_Digest(in, n, o, &len, md, NULL) != 1)
		return 0;
	return len;
}

static unsigned parity(unsigned char c)
{
	return (unsigned)__builtin_popcount(c & 0x7f) & 1;
}

size_t waf_tfn_max_out(enum waf_tfn t, size_t len)
{
	switch (t) {
	case WAF_T_BASE64_ENCODE:
		return (len + 2) / 3 * 4;
	case WAF_T_HEX_ENCODE:
		return len * 2;
	case WAF_T_URL_ENCODE:
		return len * 3;
	case WAF_T_UTF8_TO_UNICODE:
		/* worst: an overlong 2-byte form -> "%uXXXX" + lead = 7 */
		return len * 4;
	case WAF_T_LENGTH:
		return 24;
	case WAF_T_MD5:
		return 16;
	case WAF_T_SHA1:
		return 20;
	case WAF_T_CSS_DECODE:
	default:
		return len;
	}
}

size_t waf_tfn_run(enum waf_tfn t, const unsigned char *in, size_t n,
		   unsigned char *o)
{
	size_t j = 0;
	switch (t) {
	case WAF_T_NONE:
		memcpy(o, in, n);
		return n;
	case WAF_T_LOWERCASE:
		for (size_t i = 0; i < n; i++)
			o[i] = (in[i] >= 'A' && in[i] <= 'Z') ? (unsigned char)(in[i] | 0x20) : in[i];
		return n;
	case WAF_T_UPPERCASE:
		for (size_t i = 0; i < n; i++)
			o[i] = (in[i] >= 'a' && in[i] <= 'z') ? (unsigned char)(in[i] & ~0x20) : in[i];
		return n;
	case WAF_T_URL_DECODE:
		return t_url_decode(in, n, o);
	case WAF_T_URL_DECODE_UNI:
		return t_url_decode_uni(in, n, o);
	case WAF_T_HTML_ENTITY_DECODE:
		return t_html_entity_decode(in, n, o);
	case WAF_T_JS_DECODE:
		return t_js_decode(in, n, o);
	case WAF_T_CSS_DECODE:
		return t_css_decode(in, n, o);
	case WAF_T_ESCAPE_SEQ_DECODE:
		return t_escape_seq_decode(in, n, o);
	case WAF_T_HEX_DECODE:
		return t_hex_decode(in, n, o);
	case WAF_T_SQL_HEX_DECODE:
		return t_sql_hex_decode(in, n, o);
	case WAF_T_BASE64_DECODE:
		return t_base64_decode(in, n, o, false);
	case WAF_T_BASE64_DECODE_EXT:
		return t_base64_decode(in, n, o, true);
	case WAF_T_BASE64_ENCODE:
		return t_base64_encode(in, n, o);
	case WAF_T_HEX_ENCODE: {
		static const char hx[] = "0123456789abcdef";
		for (size_t i = 0; i < n; i++) {
			o[j++] = (unsigned char)hx[in[i] >> 4];
			o[j++] = (unsigned char)hx[in[i] & 15];
		}
		return j;
	}
	case WAF_T_URL_ENCODE:
		return t_url_encode(in, n, o);
	case WAF_T_CMD_LINE:
		return t_cmd_line(in, n, o);
	case WAF_T_COMPRESS_WHITESPACE:
		return t_compress_whitespace(in, n, o);
	case WAF_T_REMOVE_WHITESPACE:
		return t_remove_whitespace(in, n, o);
	case WAF_T_REMOVE_NULLS:
		for (size_t i = 0; i < n; i++)
			if (in[i])
				o[j++] = in[i];
		return j;
	case WAF_T_REPLACE_NULLS:
		for (size_t i = 0; i < n; i++)
			o[i] = in[i] ? in[i] : ' ';
		return n;
	case WAF_T_TRIM:
	case WAF_T_TRIM_LEFT:
	case WAF_T_TRIM_RIGHT: {
		size_t s = 0, e = n;
		if (t != WAF_T_TRIM_RIGHT)
			while (s < e && is_space(in[s]))
				s++;
		if (t != WAF_T_TRIM_LEFT)
			while (e > s && is_space(in[e - 1]))
				e--;
		memcpy(o, in + s, e - s);
		return e - s;
	}
	case WAF_T_NORMALISE_PATH:
		return t_normalise_path(in, n, o, false);
	case WAF_T_NORMALISE_PATH_WIN:
		return t_normalise_path(in, n, o, true);
	case WAF_T_REMOVE_COMMENTS:
		return t_remove_comments(in, n, o, false);
	case WAF_T_REPLACE_COMMENTS:
		return t_remove_comments(in, n, o, true);
	case WAF_T_REMOVE_COMMENTS_CHAR:
		return t_remove_comments_char(in, n, o);
	case WAF_T_UTF8_TO_UNICODE:
		return t_utf8_to_unicode(in, n, o);
	case WAF_T_LENGTH: {
		char tmp[24];
		int l = bw_snprintf(tmp, sizeof(tmp), "%zu", n);
		memcpy(o, tmp, (size_t)l);
		return (size_t)l;
	}
	case WAF_T_MD5:
		return t_digest(false, in, n, o);
	case WAF_T_SHA1:
		return t_digest(true, in, n, o);
	case WAF_T_PARITY_EVEN_7BIT:
		for (size_t i = 0; i < n; i++)
			o[i] = (unsigned char)((in[i] & 0x7f) | (parity(in[i]) << 7));
		return n;
	case WAF_T_PARITY_ODD_7BIT:
		for (size_t i = 0; i < n; i++)
			o[i] = (unsigned char)((in[i] & 0x7f) |
					       ((parity(in[i]) ^ 1) << 7));
		return n;
	case WAF_T_PARITY_ZERO_7BIT:
		for (size_t i = 0; i < n; i++)
			o[i] = in[i] & 0x7f;
		return n;
	case WAF_T__COUNT:
		break;
	}
	memcpy(o, in, n);
	return n;
}

/* ------------------------------------------------------ identity test */

/*
 * Which value features can make each transformation change its input.
 * Read off the functions above: a transformation only rewrites at the
 * bytes or byte pairs named here, and copies every other byte unchanged,
 * so a value without any of its triggers comes out as it went in. The
 * unit test test_tfn_identity checks this against waf_tfn_run on
 * generated values, and fuzz_waf_tfn on everything it finds.
 */
uint32_t waf_tfn_trigger(enum waf_tfn t)
{
	switch (t) {
	case WAF_T_NONE:
		return 0;
	case WAF_T_LOWERCASE:
		return WAF_TF_UPPER;
	case WAF_T_UPPERCASE:
		return WAF_TF_LOWER;
	case WAF_T_URL_DECODE:
	case WAF_T_URL_DECODE_UNI:
		return WAF_TF_PCT_PLUS;
	case WAF_T_HTML_ENTITY_DECODE:
		return WAF_TF_AMP;
	case WAF_T_JS_DECODE:
	case WAF_T_CSS_DECODE:
	case WAF_T_ESCAPE_SEQ_DECODE:
		return WAF_TF_BSL;
	case WAF_T_SQL_HEX_DECODE:
		return WAF_TF_X; /* needs "0x" */
	case WAF_T_CMD_LINE:
		/* deletes " ' \ ^, maps , ; \t \r \n to a space, collapses
		 * runs, drops a space before / or (, lowercases */
		return WAF_TF_CMDCH | WAF_TF_BSL | WAF_TF_WSCTL | WAF_TF_WSRUN |
		       WAF_TF_SPSLASH | WAF_TF_UPPER;
	case WAF_T_COMPRESS_WHITESPACE:
		/* a single ' ' stays ' ' */
		return WAF_TF_WSCTL | WAF_TF_WSRUN;
	case WAF_T_REMOVE_WHITESPACE:
		return WAF_TF_SPACE | WAF_TF_WSCTL;
	case WAF_T_REMOVE_NULLS:
	case WAF_T_REPLACE_NULLS:
		return WAF_TF_NUL;
	case WAF_T_TRIM:
	case WAF_T_TRIM_LEFT:
	case WAF_T_TRIM_RIGHT:
		return WAF_TF_EDGEWS;
	case WAF_T_NORMALISE_PATH:
		/* without a separator the value is one segment, kept unless
		 * it is "." */
		return WAF_TF_SLASH | WAF_TF_DOTVAL;
	case WAF_T_NORMALISE_PATH_WIN:
		return WAF_TF_SLASH | WAF_TF_BSL | WAF_TF_DOTVAL;
	case WAF_T_REMOVE_COMMENTS:
	case WAF_T_REPLACE_COMMENTS:
	case WAF_T_REMOVE_COMMENTS_CHAR:
		/* every construct starts with slash-star, star-slash, -- or #
		 * ("<!--" and "-->" contain --) */
		return WAF_TF_CMT | WAF_TF_HASH;
	case WAF_T_UTF8_TO_UNICODE:
		return WAF_TF_HIGH | WAF_TF_NUL;
	case WAF_T_PARITY_ZERO_7BIT:
		return WAF_TF_HIGH;
	case WAF_T_HEX_DECODE:
	case WAF_T_BASE64_DECODE:
	case WAF_T_BASE64_DECODE_EXT:
	case WAF_T_BASE64_ENCODE:
	case WAF_T_HEX_ENCODE:
	case WAF_T_URL_ENCODE:
	case WAF_T_LENGTH:
	case WAF_T_MD5:
	case WAF_T_SHA1:
	case WAF_T_PARITY_EVEN_7BIT:
	case WAF_T_PARITY_ODD_7BIT:
	case WAF_T__COUNT:
		break;
	}
	return WAF_TF_ALWAYS;
}

static bool tf_ws(unsigned char c)
{
	return is_space(c) || c == 0xa0;
}

/* Single-byte features, built on first use (a constant table would be
 * 256 entries of noise). */
static uint32_t tf_byte(unsigned char c)
{
	uint32_t f = 0;
	if (c >= 'A' && c <= 'Z')
		f |= WAF_TF_UPPER;
	if (c >= 'a' && c <= 'z')
		f |= WAF_TF_LOWER;
	if (c == 'x' || c == 'X')
		f |= WAF_TF_X;
	switch (c) {
	case '%':
	case '+':
		f |= WAF_TF_PCT_PLUS;
		break;
	case '&':
		f |= WAF_TF_AMP;
		break;
	case '\\':
		f |= WAF_TF_BSL;
		break;
	case 0:
		f |= WAF_TF_NUL;
		break;
	case '/':
		f |= WAF_TF_SLASH;
		break;
	case '"':
	case '\'':
	case '^':
	case ',':
	case ';':
		f |= WAF_TF_CMDCH;
		break;
	case ' ':
		f |= WAF_TF_SPACE;
		break;
	case '#':
		f |= WAF_TF_HASH;
		break;
	default:
		break;
	}
	if (c >= 0x80)
		f |= WAF_TF_HIGH;
	if (tf_ws(c) && c != ' ')
		f |= WAF_TF_WSCTL;
	return f;
}

static uint32_t tf_tab[256];
static pthread_once_t tf_once = PTHREAD_ONCE_INIT;

static void tf_init(void)
{
	for (unsigned c = 0; c < 256; c++)
		tf_tab[c] = tf_byte((unsigned char)c);
}

uint32_t waf_tfn_features(const unsigned char *p, size_t n)
{
	pthread_once(&tf_once, tf_init);
	uint32_t f = WAF_TF_ALWAYS;
	if (n == 0)
		return f;
	if (n == 1 && p[0] == '.')
		f |= WAF_TF_DOTVAL;
	if (tf_ws(p[0]) || tf_ws(p[n - 1]))
		f |= WAF_TF_EDGEWS;
	unsigned char prev = p[0];
	f |= tf_tab[prev];
	for (size_t i = 1; i < n; i++) {
		unsigned char c = p[i];
		f |= tf_tab[c];
		if (tf_ws(c) && tf_ws(prev))
			f |= WAF_TF_WSRUN;
		if (prev == ' ' && (c == '/' || c == '('))
			f |= WAF_TF_SPSLASH;
		if ((prev == '/' && c == '*') || (prev == '*' && c == '/') ||
		    (prev == '-' && c == '-'))
			f |= WAF_TF_CMT;
		prev = c;
	}
	return f;
}

/* The features of v, remembered by value id. */
static uint32_t val_features(struct waf_tx *tx, const struct waf_val *v)
{
	if (!v->vid)
		return waf_tfn_features((const unsigned char *)v->val.p, v->val.len);
	if (v->vid >= tx->vfeat_cap) {
		uint32_t nc = tx->vfeat_cap ? tx->vfeat_cap : 256;
		while (nc <= v->vid)
			nc *= 2;
		uint32_t *nf = bw_arena_zalloc(tx->arena, (size_t)nc * sizeof(*nf));
		if (!nf)
			return waf_tfn_features((const unsigned char *)v->val.p,
						v->val.len);
		if (tx->vfeat_cap)
			memcpy(nf, tx->vfeat, tx->vfeat_cap * sizeof(*nf));
		tx->vfeat = nf;
		tx->vfeat_cap = nc;
	}
	uint32_t f = tx->vfeat[v->vid];
	if (!f) /* never 0 once computed: WAF_TF_ALWAYS is set */
		f = tx->vfeat[v->vid] =
			waf_tfn_features((const unsigned char *)v->val.p, v->val.len);
	return f;
}

/* ------------------------------------------------------------- caching */

static struct bw_str *tcv_slot(struct waf_tx *tx, uint32_t prefix,
			       uint32_t vid, bool create)
{
	if (!tx->tcv) {
		if (!create)
			return NULL;
		tx->tcv = bw_arena_zalloc(tx->arena, (tx->rs->ntfn_prefixes + 1) *
							     sizeof(*tx->tcv));
		if (!tx->tcv)
			return NULL;
	}
	struct waf_tcv *t = &tx->tcv[prefix];
	uint32_t c = vid / WAF_TCV_CHUNK;
	if (c >= t->nchunk) {
		if (!create)
			return NULL;
		uint32_t nc = t->nchunk ? t->nchunk : 4;
		while (nc <= c)
			nc *= 2;
		struct bw_str **nd = bw_arena_zalloc(tx->arena, nc * sizeof(*nd));
		if (!nd)
			return NULL;
		if (t->nchunk)
			memcpy(nd, t->chunk, t->nchunk * sizeof(*nd));
		t->chunk = nd;
		t->nchunk = nc;
	}
	if (!t->chunk[c]) {
		if (!create)
			return NULL;
		t->chunk[c] = bw_arena_zalloc(tx->arena,
					      WAF_TCV_CHUNK * sizeof(struct bw_str));
		if (!t->chunk[c])
			return NULL;
	}
	return &t->chunk[c][vid % WAF_TCV_CHUNK];
}

int waf_tfn_chain(struct waf_tx *tx, const struct waf_rule *r,
		  const struct waf_val *v, struct bw_str *out)
{
	return waf_tfn_prefix(tx, r, v, r->eff.ntfns, out);
}

int waf_tfn_prefix(struct waf_tx *tx, const struct waf_rule *r,
		   const struct waf_val *v, size_t nt, struct bw_str *out)
{
	struct bw_str cur = v->val;
	if (!nt) {
		*out = cur;
		return 0;
	}
	/* A value with none of the chain's triggers is its own result: no
	 * copy, no cache entry. */
	const uint32_t *mask = tx->rs->tfn_mask;
	if (mask) {
		uint32_t m = mask[r->tfn_ids[nt - 1]];
		if (!(m & WAF_TF_ALWAYS) && !(val_features(tx, v) & m)) {
			*out = cur;
			return 0;
		}
	}
	/* The longest cached prefix, then compute the rest. */
	size_t k = 0;
	if (v->vid) {
		for (k = nt; k > 0; k--) {
			struct bw_str *e = tcv_slot(tx, r->tfn_ids[k - 1], v->vid,
						    false);
			if (e && e->p) {
				cur = *e;
				break;
			}
		}
	}
	for (; k < nt; k++) {
		enum waf_tfn t = r->eff.tfns[k];
		size_t cap = waf_tfn_max_out(t, cur.len);
		unsigned char *o = bw_arena_alloc(tx->arena, cap + 1);
		if (!o) {
			tx->oom = true;
			return -1;
		}
		size_t l = waf_tfn_run(t, (const unsigned char *)cur.p, cur.len, o);
		o[l] = 0;
		/* an unchanged value keeps its pointer (multiMatch compares) */
		if (!(l == cur.len && memcmp(o, cur.p, l) == 0))
			cur = bw_str_make((const char *)o, l);
		if (v->vid) {
			struct bw_str *e = tcv_slot(tx, r->tfn_ids[k], v->vid, true);
			if (!e) {
				tx->oom = true;
				return -1;
			}
			*e = cur;
		}
	}
	*out = cur;
	return 0;
}
