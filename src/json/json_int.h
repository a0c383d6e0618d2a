/*
 * json_int.h — internals shared by the json module's files (reader,
 * writer, number formatting, canonical form). No other module includes
 * this header.
 */
#ifndef BW_JSON_INT_H
#define BW_JSON_INT_H

#include "json/json.h"

/* Objects with more members than this get a hash table for duplicate-key
 * detection; below it a linear scan over the keys so far is cheaper. */
#define JSON_DUP_LINEAR_MAX 16

/* Longest ECMAScript Number-to-String output: "-" + 17 digits + "." +
 * "e-324"-style exponent, or 21 integer digits, with room to spare. */
#define JSON_NUM_BUF 40

/*
 * Length of the well-formed UTF-8 sequence at p (1..4), or 0 when the
 * bytes there are not one (overlong, surrogate, above U+10FFFF, truncated
 * or a stray continuation byte). avail is the number of readable bytes
 * (>= 1). The ranges are RFC 3629's table of well-formed sequences.
 */
static inline size_t json_utf8_len(const unsigned char *p, size_t avail)
{
	unsigned c = p[0];
	if (c < 0x80)
		return 1;
	if (c < 0xC2)
		return 0; /* continuation byte or overlong 2-byte lead */
	if (c < 0xE0) {
		if (avail < 2 || (p[1] & 0xC0) != 0x80)
			return 0;
		return 2;
	}
	if (c < 0xF0) {
		if (avail < 3 || (p[2] & 0xC0) != 0x80)
			return 0;
		unsigned lo = 0x80, hi = 0xBF;
		if (c == 0xE0)
			lo = 0xA0; /* overlong */
		else if (c == 0xED)
			hi = 0x9F; /* UTF-16 surrogates */
		if (p[1] < lo || p[1] > hi)
			return 0;
		return 3;
	}
	if (c < 0xF5) {
		if (avail < 4 || (p[2] & 0xC0) != 0x80 ||
		    (p[3] & 0xC0) != 0x80)
			return 0;
		unsigned lo = 0x80, hi = 0xBF;
		if (c == 0xF0)
			lo = 0x90; /* overlong */
		else if (c == 0xF4)
			hi = 0x8F; /* above U+10FFFF */
		if (p[1] < lo || p[1] > hi)
			return 0;
		return 4;
	}
	return 0;
}

/* Decodes the well-formed sequence of length n at p (n from
 * json_utf8_len) to its code point. */
static inline uint32_t json_utf8_decode(const unsigned char *p, size_t n)
{
	switch (n) {
	case 1:
		return p[0];
	case 2:
		return ((uint32_t)(p[0] & 0x1F) << 6) | (p[1] & 0x3F);
	case 3:
		return ((uint32_t)(p[0] & 0x0F) << 12) |
		       ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
	default:
		return ((uint32_t)(p[0] & 0x07) << 18) |
		       ((uint32_t)(p[1] & 0x3F) << 12) |
		       ((uint32_t)(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
	}
}

/*
 * Writes d in ECMAScript Number::toString form (shortest digits that
 * round-trip; -0 as "0") into out, NUL-terminated. Returns the length, or
 * 0 when d is NaN or infinite (no JSON form exists).
 */
size_t json_num_format(double d, char out[JSON_NUM_BUF]);

/* Writes v in decimal, NUL-terminated, into out (>= 21 bytes); returns
 * the length. */
size_t json_i64_format(int64_t v, char *out);
size_t json_u64_format(uint64_t v, char *out);

/*
 * Appends s[0..n) as a quoted JSON string with RFC 8785 minimal escaping:
 * \" \\ \b \f \n \r \t, \u00xx (lowercase) for other control characters,
 * every other character as raw UTF-8. Each byte that does not start a
 * well-formed UTF-8 sequence becomes U+FFFD, so the output is always valid.
 * Returns 0, or -1 when b's ceiling was reached (b may then hold part of
 * the string).
 */
int json_escape_append(struct bw_buf *b, const char *s, size_t n) BW_WUR;

/* Orders two well-formed UTF-8 strings by their UTF-16 code units, as RFC
 * 8785 sorts member names: <0, 0 or >0. */
int json_utf16_cmp(struct bw_str a, struct bw_str b);

#endif
