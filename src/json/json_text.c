/*
 * json_text.c — string output and ordering shared by the writer and the
 * canonical form: RFC 8785 minimal escaping (which is also what the
 * writer emits, so compact output of canonical data is already
 * canonical), U+FFFD for bytes that are not UTF-8, and member-name order
 * by UTF-16 code units.
 */
#include "json/json_int.h"

#include <string.h>

/* 0: copy as is; 1: escape; 2: look at as UTF-8 */
static const unsigned char esc_class[256] = {
	[0x00 ... 0x1F] = 1, ['"'] = 1, ['\\'] = 1, [0x80 ... 0xFF] = 2,
};

int json_escape_append(struct bw_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	/* The output is never shorter than the input plus quotes, so this
	 * reservation only fails when the result could not fit anyway. */
	size_t need;
	if (__builtin_add_overflow(n, 2, &need) || bw_buf_reserve(b, need) < 0)
		return -1;
	if (bw_buf_append_byte(b, '"') < 0)
		return -1;
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	const unsigned char *run = p;
	while (p < end) {
		unsigned cls = esc_class[*p];
		if (cls == 0) {
			p++;
			continue;
		}
		if (cls == 2) {
			size_t l = json_utf8_len(p, (size_t)(end - p));
			if (l) {
				p += l;
				continue;
			}
		}
		if (p > run && bw_buf_append(b, run, (size_t)(p - run)) < 0)
			return -1;
		char e[8];
		size_t el = 2;
		e[0] = '\\';
		switch (*p) {
		case '"':
			e[1] = '"';
			break;
		case '\\':
			e[1] = '\\';
			break;
		case '\b':
			e[1] = 'b';
			break;
		case '\f':
			e[1] = 'f';
			break;
		case '\n':
			e[1] = 'n';
			break;
		case '\r':
			e[1] = 'r';
			break;
		case '\t':
			e[1] = 't';
			break;
		default:
			if (*p < 0x20) {
				memcpy(e, "\\u00", 4);
				e[4] = hex[*p >> 4];
				e[5] = hex[*p & 15];
				el = 6;
			} else { /* not UTF-8: U+REPLACEMENT CHARACTER */
				memcpy(e, "\xEF\xBF\xBD", 3);
				el = 3;
			}
			break;
		}
		if (bw_buf_append(b, e, el) < 0)
			return -1;
		run = ++p;
	}
	if (p > run && bw_buf_append(b, run, (size_t)(p - run)) < 0)
		return -1;
	return bw_buf_append_byte(b, '"');
}

/* First UTF-16 code unit of the code point encoded at p (n bytes). */
static uint32_t utf16_first_unit(const unsigned char *p, size_t n)
{
	uint32_t cp = json_utf8_decode(p, n);
	if (cp >= 0x10000)
		return 0xD800 + ((cp - 0x10000) >> 10);
	return cp;
}

int json_utf16_cmp(struct bw_str a, struct bw_str b)
{
	const unsigned char *x = (const unsigned char *)a.p;
	const unsigned char *y = (const unsigned char *)b.p;
	size_t n = a.len < b.len ? a.len : b.len;
	size_t i = 0;
	while (i < n && x[i] == y[i])
		i++;
	if (i == n)
		return a.len < b.len ? -1 : a.len > b.len ? 1 : 0;
	/* Back up to the start of the code point that differs. UTF-8 byte
	 * order equals code point order, which equals UTF-16 order except
	 * when one side is a supplementary character (a surrogate pair,
	 * 0xD800..) and the other a BMP character at or above U+E000. */
	size_t diff = i;
	while (i > 0 && (x[i] & 0xC0) == 0x80)
		i--;
	size_t lx = json_utf8_len(x + i, a.len - i);
	size_t ly = json_utf8_len(y + i, b.len - i);
	if (!lx || !ly) /* not UTF-8 (never from the parser): byte order */
		return x[diff] < y[diff] ? -1 : 1;
	uint32_t ux = utf16_first_unit(x + i, lx);
	uint32_t uy = utf16_first_unit(y + i, ly);
	if (ux != uy)
		return ux < uy ? -1 : 1;
	/* same lead surrogate: code point order decides */
	uint32_t cx = json_utf8_decode(x + i, lx);
	uint32_t cy = json_utf8_decode(y + i, ly);
	return cx < cy ? -1 : 1;
}
