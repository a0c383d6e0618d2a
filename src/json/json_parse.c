/*
 * json_parse.c — the strict RFC 8259 reader.
 *
 * One pass over (pointer, length), no recursion: an explicit frame stack
 * tracks open arrays and objects, and a scratch stack collects each open
 * container's children until it closes, when they are copied into an
 * exactly sized array in the caller's arena. So the tree costs one node
 * per value plus one array per container, and nothing is reallocated.
 *
 * Invariants:
 *  - every byte outside strings is ASCII by the grammar, so UTF-8 is only
 *    validated inside strings; a decoded string is therefore always valid
 *    UTF-8 (escapes can add U+0000 but never a surrogate);
 *  - decoded strings and number texts go to one "text region" allocated
 *    at the first string or number, sized (bytes left + 1). Each token
 *    needs at most its own source length (a string loses its two quotes
 *    and gains a NUL; a number gains a NUL but is followed by a delimiter
 *    or by the end), so the region can never overflow;
 *  - a limit is checked before the work it bounds, and every error names
 *    the byte offset where it was found.
 *
 * Speed: strings are scanned eight bytes at a time for the four things
 * that end the fast path (quote, backslash, control byte, non-ASCII), and
 * an unescaped string is a single memcpy. Duplicate keys are found by a
 * linear scan up to JSON_DUP_LINEAR_MAX members, then by a SipHash-keyed
 * table per object, so a hostile object cannot make the check quadratic.
 */
#include "json/json_int.h"
#include "json/json_limits.h"

#include <float.h>
#include <locale.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

const struct json_limits json_default_limits = {
	.max_bytes = JSON_MAX_BYTES_DEFAULT,
	.max_depth = JSON_MAX_DEPTH_DEFAULT,
	.max_string = JSON_MAX_STRING_DEFAULT,
	.max_members = JSON_MAX_MEMBERS_DEFAULT,
	.dup = JSON_DUP_REJECT,
};

/* One open container. `hash` is NULL until an object passes
 * JSON_DUP_LINEAR_MAX members; it then maps keys to slot offsets. */
struct jp_frame {
	size_t base; /* index of the container's first slot */
	uint32_t *hash;
	uint32_t hcap; /* power of two, or 0 */
	bool is_obj;
};

#define JP_LOCAL_SLOTS 128

struct jp {
	const unsigned char *start, *p, *end;
	struct bw_arena *a;
	struct bw_err *err;
	size_t max_depth, max_string, max_members;
	enum json_dup_policy dup;
	/* text region (see file comment) */
	char *tp, *tend;
	/* children of the open containers; arrays use only .value */
	struct json_member *slots;
	size_t nslots, cap;
	struct json_member local[JP_LOCAL_SLOTS];
};

/* ------------------------------------------------------------ errors */

static void jp_fail(struct jp *j, const unsigned char *at, int code,
		    const char *reason, const char *what)
{
	bw_err_set(j->err, code, "json", reason, "%s at byte %zu", what,
		   (size_t)(at - j->start));
}

/* ------------------------------------------------------------ memory */

/* Nodes and child arrays come straight from the arena: a private bump
 * chunk would be faster per call but wastes its unused tail on every
 * parse, and for batch arenas holding thousands of events that waste
 * (cache misses, page faults) cost more than the calls. */
static inline void *jp_alloc(struct jp *j, size_t n)
{
	return bw_arena_alloc(j->a, n);
}

static inline struct json_value *jp_node(struct jp *j, enum json_type t)
{
	struct json_value *v = jp_alloc(j, sizeof(*v));
	if (v)
		v->type = t;
	return v;
}

/* Makes sure the text region exists; it is sized once for the rest of the
 * document (see the file comment for why that always suffices). */
static inline int jp_text_region(struct jp *j, const unsigned char *at)
{
	if (j->tp)
		return 0;
	size_t n = (size_t)(j->end - at) + 1;
	j->tp = bw_arena_alloc(j->a, n);
	if (!j->tp)
		return -1;
	j->tend = j->tp + n;
	return 0;
}

static int jp_grow_slots(struct jp *j, const unsigned char *at)
{
	size_t ncap = j->cap * 2;
	struct json_member *ns;
	if (j->slots == j->local) {
		ns = malloc(ncap * sizeof(*ns));
		if (ns)
			memcpy(ns, j->local, sizeof(j->local));
	} else {
		ns = realloc(j->slots, ncap * sizeof(*ns));
	}
	if (!ns) {
		jp_fail(j, at, 500, "memory", "out of memory");
		return -1;
	}
	j->slots = ns;
	j->cap = ncap;
	return 0;
}

/* The scratch stack holds at most one slot per value in the document, so
 * it is bounded by max_bytes; it starts on the C stack. */
static inline int jp_push_slot(struct jp *j, const unsigned char *at,
			       struct bw_str key, struct json_value *v)
{
	if (__builtin_expect(j->nslots == j->cap, 0) &&
	    jp_grow_slots(j, at) < 0)
		return -1;
	j->slots[j->nslots].key = key;
	j->slots[j->nslots].value = v;
	j->nslots++;
	return 0;
}

/* ------------------------------------------------- duplicate detection */

/* SipHash-2-4 with a per-process random key: the table must not be
 * floodable by keys chosen to collide. */
static uint64_t jp_sip_k0, jp_sip_k1;
static pthread_once_t jp_sip_once = PTHREAD_ONCE_INIT;

static void jp_sip_init(void)
{
	uint64_t k[2];
	bw_random(k, sizeof(k));
	jp_sip_k0 = k[0];
	jp_sip_k1 = k[1];
}

#define ROTL64(x, b) (((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                               \
	do {                                                                   \
		v0 += v1;                                                      \
		v1 = ROTL64(v1, 13);                                           \
		v1 ^= v0;                                                      \
		v0 = ROTL64(v0, 32);                                           \
		v2 += v3;                                                      \
		v3 = ROTL64(v3, 16);                                           \
		v3 ^= v2;                                                      \
		v0 += v3;                                                      \
		v3 = ROTL64(v3, 21);                                           \
		v3 ^= v0;                                                      \
		v2 += v1;                                                      \
		v1 = ROTL64(v1, 17);                                           \
		v1 ^= v2;                                                      \
		v2 = ROTL64(v2, 32);                                           \
	} while (0)

static uint64_t jp_siphash(const char *p, size_t n)
{
	uint64_t v0 = 0x736f6d6570736575ULL ^ jp_sip_k0;
	uint64_t v1 = 0x646f72616e646f6dULL ^ jp_sip_k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ jp_sip_k0;
	uint64_t v3 = 0x7465646279746573ULL ^ jp_sip_k1;
	const unsigned char *s = (const unsigned char *)p;
	size_t left = n;
	while (left >= 8) {
		uint64_t m = 0;
		for (int i = 0; i < 8; i++)
			m |= (uint64_t)s[i] << (8 * i);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
		s += 8;
		left -= 8;
	}
	uint64_t m = (uint64_t)(n & 0xff) << 56;
	for (size_t i = 0; i < left; i++)
		m |= (uint64_t)s[i] << (8 * i);
	v3 ^= m;
	SIPROUND;
	SIPROUND;
	v0 ^= m;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static inline bool jp_key_eq(struct bw_str a, struct bw_str b)
{
	return a.len == b.len && memcmp(a.p, b.p, a.len) == 0;
}

/* Inserts slot `idx` (relative to f->base) into f's table; returns true
 * when an equal key is already there. The table never fills past half. */
static bool jp_hash_insert(struct jp *j, struct jp_frame *f, uint32_t idx)
{
	struct bw_str k = j->slots[f->base + idx].key;
	uint32_t mask = f->hcap - 1;
	uint32_t h = (uint32_t)jp_siphash(k.p, k.len) & mask;
	while (f->hash[h]) {
		if (jp_key_eq(j->slots[f->base + f->hash[h] - 1].key, k))
			return true;
		h = (h + 1) & mask;
	}
	f->hash[h] = idx + 1;
	return false;
}

/* Rebuilds f's table with room for at least 2 * n keys. */
static int jp_hash_grow(struct jp *j, struct jp_frame *f, size_t n)
{
	uint32_t cap = 64;
	while (cap < 2 * n)
		cap *= 2;
	uint32_t *t = calloc(cap, sizeof(*t));
	if (!t)
		return -1;
	free(f->hash);
	f->hash = t;
	f->hcap = cap;
	for (uint32_t i = 0; i < n; i++)
		(void)jp_hash_insert(j, f, i); /* keys so far are distinct */
	return 0;
}

/*
 * Checks the key just pushed (the last slot) against the object's earlier
 * keys. Returns 0, or -1 with err set (dup_key, or memory).
 */
static int jp_check_dup(struct jp *j, struct jp_frame *f,
			const unsigned char *at)
{
	size_t n = j->nslots - f->base; /* including the new key */
	struct bw_str k = j->slots[j->nslots - 1].key;
	if (n <= JSON_DUP_LINEAR_MAX) {
		for (size_t i = f->base; i < j->nslots - 1; i++) {
			if (jp_key_eq(j->slots[i].key, k))
				goto dup;
		}
		return 0;
	}
	if (!f->hash || 2 * n > f->hcap) {
		pthread_once(&jp_sip_once, jp_sip_init);
		/* Insert all but the new key, then test the new one. */
		if (jp_hash_grow(j, f, n - 1) < 0) {
			jp_fail(j, at, 500, "memory", "out of memory");
			return -1;
		}
	}
	if (jp_hash_insert(j, f, (uint32_t)(n - 1)))
		goto dup;
	return 0;
dup:
	jp_fail(j, at, 400, "dup_key", "duplicate object key");
	return -1;
}

/* ----------------------------------------------------------- strings */

/* Byte classes inside a string: 0 copies as is, the rest need a look. */
enum { SC_PLAIN, SC_QUOTE, SC_BSLASH, SC_CTRL, SC_HIGH };
static const unsigned char jp_sclass[256] = {
	[0x00 ... 0x1F] = SC_CTRL, ['"'] = SC_QUOTE, ['\\'] = SC_BSLASH,
	[0x80 ... 0xFF] = SC_HIGH,
};

/* Hex digit value plus one; 0 marks a non-hex byte. */
static const unsigned char jp_hexval[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5,
	['5'] = 6, ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
	['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
	['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* True when any of the 8 bytes in v is '"', '\\', < 0x20 or >= 0x80. */
static inline bool jp_swar_special(uint64_t v)
{
	uint64_t q = v ^ (ONES * '"');
	uint64_t b = v ^ (ONES * '\\');
	uint64_t t = ((q - ONES) & ~q) | ((b - ONES) & ~b) |
		     ((v - ONES * 0x20) & ~v) | v;
	return (t & HIGHS) != 0;
}

/* Reads 4 hex digits at p (caller checked 4 bytes exist); -1 if bad. */
static inline int32_t jp_hex4(const unsigned char *p)
{
	int a = jp_hexval[p[0]], b = jp_hexval[p[1]], c = jp_hexval[p[2]],
	    d = jp_hexval[p[3]];
	if (!a || !b || !c || !d)
		return -1;
	return ((a - 1) << 12) | ((b - 1) << 8) | ((c - 1) << 4) | (d - 1);
}

static inline char *jp_put_utf8(char *d, uint32_t cp)
{
	if (cp < 0x80) {
		*d++ = (char)cp;
	} else if (cp < 0x800) {
		*d++ = (char)(0xC0 | (cp >> 6));
		*d++ = (char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		*d++ = (char)(0xE0 | (cp >> 12));
		*d++ = (char)(0x80 | ((cp >> 6) & 0x3F));
		*d++ = (char)(0x80 | (cp & 0x3F));
	} else {
		*d++ = (char)(0xF0 | (cp >> 18));
		*d++ = (char)(0x80 | ((cp >> 12) & 0x3F));
		*d++ = (char)(0x80 | ((cp >> 6) & 0x3F));
		*d++ = (char)(0x80 | (cp & 0x3F));
	}
	return d;
}

/*
 * The rest of a string from the first backslash on: decodes into the text
 * region at d (which already holds the unescaped prefix). p points at the
 * backslash. On success stores the result in *out and leaves j->p past
 * the closing quote.
 */
static int jp_string_escaped(struct jp *j, const unsigned char *p, char *d,
			     char *dst, struct bw_str *out)
{
	const unsigned char *end = j->end;
	for (;;) {
		while (p < end && jp_sclass[*p] == SC_PLAIN)
			*d++ = (char)*p++;
		if ((size_t)(d - dst) > j->max_string) {
			jp_fail(j, p, 413, "too_large", "string too long");
			return -1;
		}
		if (p >= end) {
			jp_fail(j, p, 400, "string", "unterminated string");
			return -1;
		}
		unsigned c = *p;
		switch (jp_sclass[c]) {
		case SC_QUOTE:
			*d = '\0';
			out->p = dst;
			out->len = (size_t)(d - dst);
			j->tp = d + 1;
			j->p = p + 1;
			return 0;
		case SC_CTRL:
			jp_fail(j, p, 400, "string",
				"control character in string");
			return -1;
		case SC_HIGH: {
			size_t n = json_utf8_len(p, (size_t)(end - p));
			if (!n) {
				jp_fail(j, p, 400, "utf8", "invalid UTF-8");
				return -1;
			}
			memcpy(d, p, n);
			d += n;
			p += n;
			continue;
		}
		default:
			break;
		}
		/* backslash */
		if (end - p < 2) {
			jp_fail(j, p, 400, "string", "unterminated escape");
			return -1;
		}
		switch (p[1]) {
		case '"':
		case '\\':
		case '/':
			*d++ = (char)p[1];
			p += 2;
			continue;
		case 'b':
			*d++ = '\b';
			p += 2;
			continue;
		case 'f':
			*d++ = '\f';
			p += 2;
			continue;
		case 'n':
			*d++ = '\n';
			p += 2;
			continue;
		case 'r':
			*d++ = '\r';
			p += 2;
			continue;
		case 't':
			*d++ = '\t';
			p += 2;
			continue;
		case 'u':
			break;
		default:
			jp_fail(j, p, 400, "string", "invalid escape");
			return -1;
		}
		int32_t cp = end - p >= 6 ? jp_hex4(p + 2) : -1;
		if (cp < 0) {
			jp_fail(j, p, 400, "string", "invalid \\u escape");
			return -1;
		}
		if (cp >= 0xDC00 && cp <= 0xDFFF) {
			jp_fail(j, p, 400, "string", "lone low surrogate");
			return -1;
		}
		if (cp >= 0xD800 && cp <= 0xDBFF) {
			int32_t lo = (end - p >= 12 && p[6] == '\\' &&
				      p[7] == 'u')
					     ? jp_hex4(p + 8)
					     : -1;
			if (lo < 0xDC00 || lo > 0xDFFF) {
				jp_fail(j, p, 400, "string",
					"lone high surrogate");
				return -1;
			}
			cp = 0x10000 + (((cp - 0xD800) << 10) | (lo - 0xDC00));
			p += 6;
		}
		d = jp_put_utf8(d, (uint32_t)cp);
		p += 6;
	}
}

/*
 * Parses a string whose opening quote is at j->p; stores the decoded,
 * NUL-terminated UTF-8 in *out (in the text region) and leaves j->p past
 * the closing quote.
 */
static int jp_string(struct jp *j, struct bw_str *out)
{
	const unsigned char *s = j->p + 1, *p = s, *end = j->end;
	if (jp_text_region(j, j->p) < 0) {
		jp_fail(j, j->p, 413, "too_large", "arena exhausted");
		return -1;
	}
	for (;;) {
		while (end - p >= 8) {
			uint64_t v;
			memcpy(&v, p, 8);
			if (jp_swar_special(v))
				break;
			p += 8;
		}
		while (p < end && jp_sclass[*p] == SC_PLAIN)
			p++;
		if (p >= end) {
			jp_fail(j, j->p, 400, "string", "unterminated string");
			return -1;
		}
		switch (jp_sclass[*p]) {
		case SC_QUOTE: {
			size_t n = (size_t)(p - s);
			if (n > j->max_string) {
				jp_fail(j, s, 413, "too_large",
					"string too long");
				return -1;
			}
			char *d = j->tp;
			memcpy(d, s, n);
			d[n] = '\0';
			j->tp = d + n + 1;
			out->p = d;
			out->len = n;
			j->p = p + 1;
			return 0;
		}
		case SC_HIGH: {
			size_t n = json_utf8_len(p, (size_t)(end - p));
			if (!n) {
				jp_fail(j, p, 400, "utf8", "invalid UTF-8");
				return -1;
			}
			p += n;
			continue;
		}
		case SC_CTRL:
			jp_fail(j, p, 400, "string",
				"control character in string");
			return -1;
		default: { /* backslash: decode from here on */
			size_t n = (size_t)(p - s);
			char *d = j->tp;
			memcpy(d, s, n);
			return jp_string_escaped(j, p, d + n, d, out);
		}
		}
	}
}

/* ----------------------------------------------------------- numbers */

static locale_t jp_c_locale;
static pthread_once_t jp_locale_once = PTHREAD_ONCE_INIT;

static void jp_locale_init(void)
{
	jp_c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/* The fast path needs doubles evaluated in double precision (no x87). */
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
#define JP_CLINGER 1
#else
#define JP_CLINGER 0
#endif

/* Exact powers of ten a double holds (10^22 is the last one). */
static const double jp_pow10[] = {
	1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/*
 * Value of a validated number literal that is not a short plain integer.
 * raw is NUL-terminated. Sets num.d and, when the literal's exact value is
 * an integer that fits int64_t (e.g. "1.0", "25e2", "-0.0"), num.i.
 */
static int jp_number_value(struct json_value *v, const char *raw, size_t len)
{
	const char *p = raw, *end = raw + len;
	bool neg = *p == '-';
	if (neg)
		p++;
	/* Significant digits without leading zeros; trailing zeros are
	 * held back (`zeros`) so "1000" and "1.000" stay small. */
	uint64_t m = 0;
	int sig = 0;     /* digits folded into m */
	long zeros = 0;  /* pending zeros not yet folded in */
	long frac = 0;   /* digits after the point */
	bool point = false, exact = true;
	for (; p < end && *p != 'e' && *p != 'E'; p++) {
		if (*p == '.') {
			point = true;
			continue;
		}
		int dg = *p - '0';
		if (point)
			frac++;
		if (dg == 0) {
			if (sig > 0)
				zeros++;
			continue;
		}
		/* fold pending zeros then the digit; past 19 digits m cannot
		 * hold the value exactly */
		while (zeros > 0 && sig < 19) {
			m *= 10;
			sig++;
			zeros--;
		}
		if (zeros > 0 || sig >= 19) {
			exact = false;
			sig++;
			continue;
		}
		m = m * 10 + (uint64_t)dg;
		sig++;
	}
	long e = 0;
	if (p < end) {
		p++;
		bool eneg = *p == '-';
		if (*p == '+' || *p == '-')
			p++;
		for (; p < end; p++) {
			if (e < 100000)
				e = e * 10 + (*p - '0');
		}
		if (eneg)
			e = -e;
	}
	/* value = m * 10^(zeros + e - frac) when exact */
	long e10 = zeros + e - frac;

	double d; /* the magnitude; the sign is applied last */
	if (exact && m == 0) {
		d = 0.0;
	} else if (JP_CLINGER && exact && m <= ((uint64_t)1 << 53) &&
		   e10 >= -22 && e10 <= 22) {
		/* Both operands exact, so one correctly rounded operation
		 * gives the correctly rounded result (Clinger's fast path). */
		d = e10 >= 0 ? (double)m * jp_pow10[e10]
			     : (double)m / jp_pow10[-e10];
	} else {
		pthread_once(&jp_locale_once, jp_locale_init);
		if (!jp_c_locale)
			return -1;
		/* glibc's strtod is correctly rounded; underflow to 0 or a
		 * subnormal is fine, overflow is caught below. */
		d = strtod_l(neg ? raw + 1 : raw, NULL, jp_c_locale);
	}
	if (d - d != 0) /* infinity: beyond the double range */
		return -1;
	if (neg)
		d = -d;
	v->u.num.d = d;
	v->u.num.is_int = false;
	v->u.num.i = 0;
	if (exact && m == 0) {
		v->u.num.is_int = true;
		return 0;
	}
	if (exact && e10 >= 0 && e10 <= 19) {
		uint64_t x = m;
		for (long i = 0; i < e10; i++) {
			if (__builtin_mul_overflow(x, 10, &x))
				return 0;
		}
		if (!neg && x <= (uint64_t)INT64_MAX) {
			v->u.num.i = (int64_t)x;
			v->u.num.is_int = true;
		} else if (neg && x <= (uint64_t)INT64_MAX + 1) {
			v->u.num.i = (int64_t)(0 - x);
			v->u.num.is_int = true;
		}
	}
	return 0;
}

static inline bool jp_digit(unsigned c)
{
	return c - '0' < 10;
}

/* Parses the number starting at j->p. */
static struct json_value *jp_number(struct jp *j)
{
	const unsigned char *s = j->p, *p = s, *end = j->end;
	bool neg = false;
	if (*p == '-') {
		neg = true;
		p++;
	}
	if (p >= end || !jp_digit(*p)) {
		jp_fail(j, p, 400, "number", "expected digit");
		return NULL;
	}
	const unsigned char *ds = p;
	if (*p == '0') {
		p++;
		if (p < end && jp_digit(*p)) {
			jp_fail(j, p - 1, 400, "number", "leading zero");
			return NULL;
		}
	} else {
		while (p < end && jp_digit(*p))
			p++;
	}
	size_t ndig = (size_t)(p - ds);
	bool plain = true;
	if (p < end && *p == '.') {
		plain = false;
		p++;
		if (p >= end || !jp_digit(*p)) {
			jp_fail(j, p, 400, "number", "expected digit after '.'");
			return NULL;
		}
		while (p < end && jp_digit(*p))
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		plain = false;
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || !jp_digit(*p)) {
			jp_fail(j, p, 400, "number",
				"expected digit in exponent");
			return NULL;
		}
		while (p < end && jp_digit(*p))
			p++;
	}
	size_t len = (size_t)(p - s);
	if (len > JSON_NUMBER_MAX_LEN) {
		jp_fail(j, s, 400, "number", "number literal too long");
		return NULL;
	}
	struct json_value *v = jp_node(j, JSON_NUMBER);
	if (!v || jp_text_region(j, s) < 0) {
		jp_fail(j, s, 413, "too_large", "arena exhausted");
		return NULL;
	}
	char *raw = j->tp;
	memcpy(raw, s, len);
	raw[len] = '\0';
	j->tp = raw + len + 1;
	v->u.num.raw.p = raw;
	v->u.num.raw.len = len;
	j->p = p;
	if (plain && ndig <= 18) {
		uint64_t u = 0;
		for (const unsigned char *q = ds; q < p; q++)
			u = u * 10 + (*q - '0');
		v->u.num.is_int = true;
		v->u.num.i = neg ? -(int64_t)u : (int64_t)u;
		v->u.num.d = neg ? -(double)u : (double)u;
		return v;
	}
	if (jp_number_value(v, raw, len) < 0) {
		jp_fail(j, s, 400, "number", "number out of range");
		return NULL;
	}
	return v;
}

/* ------------------------------------------------------------ driver */

static inline const unsigned char *jp_ws(const unsigned char *p,
					 const unsigned char *end)
{
	while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' ||
			   *p == '\t'))
		p++;
	return p;
}

static size_t jp_lim(size_t v, size_t def, size_t hard)
{
	if (v == 0)
		return def;
	return v > hard ? hard : v;
}

/* Closes the innermost container: moves its children from the scratch
 * stack to an exact-size array. */
static struct json_value *jp_close(struct jp *j, struct jp_frame *f,
				   const unsigned char *at)
{
	size_t n = j->nslots - f->base;
	struct json_value *v = jp_node(j, f->is_obj ? JSON_OBJECT : JSON_ARRAY);
	if (!v)
		goto oom;
	struct json_member *src = j->slots + f->base;
	if (f->is_obj) {
		struct json_member *m = NULL;
		if (n) {
			m = jp_alloc(j, n * sizeof(*m));
			if (!m)
				goto oom;
			memcpy(m, src, n * sizeof(*m));
		}
		v->u.obj.members = m;
		v->u.obj.n = n;
	} else {
		struct json_value **items = NULL;
		if (n) {
			items = jp_alloc(j, n * sizeof(*items));
			if (!items)
				goto oom;
			for (size_t i = 0; i < n; i++)
				items[i] = src[i].value;
		}
		v->u.arr.items = items;
		v->u.arr.n = n;
	}
	free(f->hash);
	f->hash = NULL;
	j->nslots = f->base;
	return v;
oom:
	jp_fail(j, at, 413, "too_large", "arena exhausted");
	return NULL;
}

struct json_value *json_parse(struct bw_arena *a, const char *text, size_t len,
			      const struct json_limits *lim,
			      struct bw_err *err)
{
	if (!lim)
		lim = &json_default_limits;
	struct jp_frame frames[JSON_MAX_DEPTH_HARD];
	size_t depth = 0;
	struct json_value *result = NULL;
	struct json_value *v = NULL;
	struct jp j;
	j.start = j.p = (const unsigned char *)text;
	j.end = j.start + len;
	j.a = a;
	j.err = err;
	j.max_depth = jp_lim(lim->max_depth, JSON_MAX_DEPTH_DEFAULT,
			     JSON_MAX_DEPTH_HARD);
	j.max_string = jp_lim(lim->max_string, JSON_MAX_STRING_DEFAULT,
			      JSON_MAX_STRING_HARD);
	j.max_members = jp_lim(lim->max_members, JSON_MAX_MEMBERS_DEFAULT,
			       JSON_MAX_MEMBERS_HARD);
	j.dup = lim->dup;
	size_t max_bytes = jp_lim(lim->max_bytes, JSON_MAX_BYTES_DEFAULT,
				  JSON_MAX_BYTES_HARD);
	j.tp = j.tend = NULL;
	j.slots = j.local;
	j.nslots = 0;
	j.cap = JP_LOCAL_SLOTS;

	if (len > max_bytes) {
		bw_err_set(err, 413, "json", "too_large",
			   "document of %zu bytes exceeds %zu at byte 0", len,
			   max_bytes);
		return NULL;
	}
	if (!text && len) {
		bw_err_set(err, 400, "json", "syntax", "NULL text at byte 0");
		return NULL;
	}

	const unsigned char *end = j.end;
	struct bw_str key = { NULL, 0 };

value:
	j.p = jp_ws(j.p, end);
	if (j.p >= end) {
		jp_fail(&j, j.p, 400, "syntax", "expected a value");
		goto out;
	}
	switch (*j.p) {
	case '{':
	case '[':
		if (depth >= j.max_depth) {
			jp_fail(&j, j.p, 400, "depth", "nesting too deep");
			goto out;
		}
		frames[depth].base = j.nslots;
		frames[depth].hash = NULL;
		frames[depth].hcap = 0;
		frames[depth].is_obj = *j.p == '{';
		depth++;
		j.p = jp_ws(j.p + 1, end);
		if (frames[depth - 1].is_obj) {
			if (j.p < end && *j.p == '}') {
				j.p++;
				v = jp_close(&j, &frames[--depth], j.p);
				if (!v)
					goto out;
				goto after_value;
			}
			goto member_key;
		}
		if (j.p < end && *j.p == ']') {
			j.p++;
			v = jp_close(&j, &frames[--depth], j.p);
			if (!v)
				goto out;
			goto after_value;
		}
		goto value;
	case '"':
		v = jp_node(&j, JSON_STRING);
		if (!v) {
			jp_fail(&j, j.p, 413, "too_large", "arena exhausted");
			goto out;
		}
		if (jp_string(&j, &v->u.str) < 0)
			goto out;
		goto after_value;
	case 't':
	case 'f':
	case 'n': {
		static const char *const lit[3] = { "true", "false", "null" };
		static const enum json_type lt[3] = { JSON_TRUE, JSON_FALSE,
						      JSON_NULL };
		int k = *j.p == 't' ? 0 : *j.p == 'f' ? 1 : 2;
		size_t n = k == 1 ? 5 : 4;
		if ((size_t)(end - j.p) < n || memcmp(j.p, lit[k], n) != 0) {
			jp_fail(&j, j.p, 400, "syntax", "invalid literal");
			goto out;
		}
		v = jp_node(&j, lt[k]);
		if (!v) {
			jp_fail(&j, j.p, 413, "too_large", "arena exhausted");
			goto out;
		}
		j.p += n;
		goto after_value;
	}
	default:
		if (*j.p == '-' || jp_digit(*j.p)) {
			v = jp_number(&j);
			if (!v)
				goto out;
			goto after_value;
		}
		jp_fail(&j, j.p, 400, "syntax", "unexpected character");
		goto out;
	}

member_key:
	/* j.p is at (whitespace skipped) where a key must start */
	if (j.p >= end || *j.p != '"') {
		jp_fail(&j, j.p, 400, "syntax", "expected object key");
		goto out;
	}
	{
		const unsigned char *kat = j.p;
		if (jp_string(&j, &key) < 0)
			goto out;
		struct jp_frame *f = &frames[depth - 1];
		if (j.nslots - f->base >= j.max_members) {
			jp_fail(&j, kat, 413, "too_large", "too many members");
			goto out;
		}
		/* push the key now (value filled in later) so the duplicate
		 * check sees it */
		if (jp_push_slot(&j, kat, key, NULL) < 0)
			goto out;
		if (j.dup == JSON_DUP_REJECT && jp_check_dup(&j, f, kat) < 0)
			goto out;
	}
	j.p = jp_ws(j.p, end);
	if (j.p >= end || *j.p != ':') {
		jp_fail(&j, j.p, 400, "syntax", "expected ':'");
		goto out;
	}
	j.p++;
	goto value;

after_value:
	if (depth == 0) {
		j.p = jp_ws(j.p, end);
		if (j.p != end) {
			jp_fail(&j, j.p, 400, "syntax",
				"trailing data after the value");
			goto out;
		}
		result = v;
		goto out;
	}
	{
		struct jp_frame *f = &frames[depth - 1];
		if (f->is_obj) {
			j.slots[j.nslots - 1].value = v;
		} else {
			/* the count was checked at the comma before it */
			if (jp_push_slot(&j, j.p, (struct bw_str){ NULL, 0 }, v) < 0)
				goto out;
		}
		j.p = jp_ws(j.p, end);
		if (j.p >= end) {
			jp_fail(&j, j.p, 400, "syntax", "unexpected end");
			goto out;
		}
		if (*j.p == ',') {
			j.p = jp_ws(j.p + 1, end);
			if (f->is_obj)
				goto member_key;
			if (j.nslots - f->base >= j.max_members) {
				jp_fail(&j, j.p, 413, "too_large",
					"too many items");
				goto out;
			}
			goto value;
		}
		if (*j.p == (f->is_obj ? '}' : ']')) {
			j.p++;
			v = jp_close(&j, f, j.p);
			depth--;
			if (!v)
				goto out;
			goto after_value;
		}
		jp_fail(&j, j.p, 400, "syntax",
			f->is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
		goto out;
	}

out:
	while (depth > 0)
		free(frames[--depth].hash);
	if (j.slots != j.local)
		free(j.slots);
	return result;
}
