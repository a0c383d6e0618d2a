/*
 * json_number.c — numbers out: decimal integers, and doubles in the
 * ECMAScript Number::toString form that RFC 8785 (JCS) requires.
 *
 * Shortest round-trip digits are found with the C library rather than a
 * hand-written Ryu/Grisu: for a precision p, snprintf("%.*e") gives the
 * correctly rounded p-digit decimal closest to the value, and strtod
 * (correctly rounded in glibc) tells whether it reads back to the same
 * double. Whether *some* p-digit decimal round-trips is monotone in p (a
 * p-digit decimal is also a (p+1)-digit one), so a binary search over
 * 1..17 finds the least p. At that p the closest candidate is taken when
 * it round-trips, else its neighbour on the other side of the value (the
 * rounding interval is lopsided at powers of two). Ties were already
 * broken to even by snprintf, as ECMAScript asks.
 *
 * Everything is locale-independent: digits are picked out of snprintf's
 * output by hand and strings handed to strtod_l use '.' in the C locale.
 */
#include "json/json_int.h"

#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static locale_t num_c_locale;
static pthread_once_t num_locale_once = PTHREAD_ONCE_INIT;

static void num_locale_init(void)
{
	num_c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

size_t json_u64_format(uint64_t v, char *out)
{
	char tmp[24];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	out[n] = '\0';
	return n;
}

size_t json_i64_format(int64_t v, char *out)
{
	if (v >= 0)
		return json_u64_format((uint64_t)v, out);
	out[0] = '-';
	/* 0 - (uint64_t)v is the magnitude even for INT64_MIN */
	return 1 + json_u64_format(0 - (uint64_t)v, out + 1);
}

/* A candidate decimal: mant × 10^exp10 with mant < 10^18. */
struct num_dec {
	uint64_t mant;
	int exp10;
};

static bool num_reads_back(struct num_dec c, double a)
{
	char buf[48];
	size_t n = json_u64_format(c.mant, buf);
	int r = snprintf(buf + n, sizeof(buf) - n, "e%d", c.exp10);
	if (r < 0 || (size_t)r >= sizeof(buf) - n)
		return false;
	return strtod_l(buf, NULL, num_c_locale) == a;
}

/*
 * The p-digit decimal nearest to a (a > 0, finite) that reads back as a,
 * if one exists. Returns false when no p-digit decimal round-trips.
 */
static bool num_try(double a, int p, struct num_dec *out)
{
	char buf[64];
	int r = snprintf(buf, sizeof(buf), "%.*e", p - 1, a);
	if (r < 0 || (size_t)r >= sizeof(buf))
		return false;
	/* "d<point>ddd e±xx"; the point may be any locale string */
	uint64_t mant = 0;
	const char *s = buf;
	for (; *s && *s != 'e'; s++) {
		if (*s >= '0' && *s <= '9')
			mant = mant * 10 + (uint64_t)(*s - '0');
	}
	if (*s != 'e')
		return false;
	int ex = (int)strtol(s + 1, NULL, 10);
	struct num_dec c = { mant, ex - (p - 1) };
	if (num_reads_back(c, a)) {
		*out = c;
		return true;
	}
	/* The other neighbour: one unit in the last place towards a. */
	char back[48];
	size_t n = json_u64_format(c.mant, back);
	if (snprintf(back + n, sizeof(back) - n, "e%d", c.exp10) < 0)
		return false;
	double got = strtod_l(back, NULL, num_c_locale);
	struct num_dec o = c;
	uint64_t low = 1; /* 10^(p-1), the smallest p-digit mantissa */
	for (int i = 1; i < p; i++)
		low *= 10;
	if (got < a) {
		o.mant++;
	} else if (o.mant == low) {
		/* below a power of ten the p-digit grid is ten times finer */
		o.mant = low * 10 - 1;
		o.exp10--;
	} else {
		o.mant--;
	}
	if (num_reads_back(o, a)) {
		*out = o;
		return true;
	}
	return false;
}

/* Appends the ES rendering of digits s[0..k) (first and last nonzero)
 * with decimal point position n (value = 0.s × 10^n). */
static size_t num_es_layout(const char *s, int k, int n, char *o)
{
	size_t len = 0;
	if (k <= n && n <= 21) {
		memcpy(o, s, (size_t)k);
		len = (size_t)k;
		for (int i = 0; i < n - k; i++)
			o[len++] = '0';
	} else if (0 < n && n <= 21) {
		memcpy(o, s, (size_t)n);
		len = (size_t)n;
		o[len++] = '.';
		memcpy(o + len, s + n, (size_t)(k - n));
		len += (size_t)(k - n);
	} else if (-6 < n && n <= 0) {
		o[len++] = '0';
		o[len++] = '.';
		for (int i = 0; i < -n; i++)
			o[len++] = '0';
		memcpy(o + len, s, (size_t)k);
		len += (size_t)k;
	} else {
		o[len++] = s[0];
		if (k > 1) {
			o[len++] = '.';
			memcpy(o + len, s + 1, (size_t)(k - 1));
			len += (size_t)(k - 1);
		}
		int e = n - 1;
		o[len++] = 'e';
		o[len++] = e < 0 ? '-' : '+';
		len += json_u64_format((uint64_t)(e < 0 ? -e : e), o + len);
	}
	o[len] = '\0';
	return len;
}

size_t json_num_format(double d, char out[JSON_NUM_BUF])
{
	if (!isfinite(d))
		return 0;
	if (d == 0) { /* both zeros */
		out[0] = '0';
		out[1] = '\0';
		return 1;
	}
	size_t pre = 0;
	double a = d;
	if (d < 0) {
		out[pre++] = '-';
		a = -d;
	}
	/* Integers below 2^53 are exact: their digits are the answer. */
	if (a < 9007199254740992.0 && a == floor(a))
		return pre + json_u64_format((uint64_t)a, out + pre);

	pthread_once(&num_locale_once, num_locale_init);
	if (!num_c_locale)
		return 0;
	struct num_dec best = { 0, 0 };
	int lo = 1, hi = 17;
	if (!num_try(a, 17, &best))
		return 0; /* cannot happen: 17 digits always round-trip */
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		struct num_dec c;
		if (num_try(a, mid, &c)) {
			best = c;
			hi = mid;
		} else {
			lo = mid + 1;
		}
	}
	/* digits without trailing zeros */
	char digits[24];
	uint64_t m = best.mant;
	int ex = best.exp10;
	while (m % 10 == 0) {
		m /= 10;
		ex++;
	}
	int k = (int)json_u64_format(m, digits);
	return pre + num_es_layout(digits, k, ex + k, out + pre);
}
