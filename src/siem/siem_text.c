/*
 * Text helpers shared by the SIEM parsers: civil-date arithmetic, RFC 3339
 * and BSD syslog timestamps, IP literal checks, the message template
 * matcher, and the common start of every parser (copy the line into the
 * arena, initialise the event). Everything works on (pointer, length) and
 * never reads past len; nothing here allocates except siem_parse_begin.
 */
#include "siem/siem_int.h"

#include <arpa/inet.h>

int64_t siem_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	/* Howard Hinnant's days_from_civil: shift the year to start in
	 * March so the leap day is last, then count eras of 400 years. */
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

unsigned siem_month_parse(const char *p)
{
	static const char names[] = "janfebmaraprmayjunjulaugsepoctnovdec";
	char l[3] = { siem_lower(p[0]), siem_lower(p[1]), siem_lower(p[2]) };
	for (unsigned i = 0; i < 12; i++)
		if (memcmp(names + 3 * i, l, 3) == 0)
			return i + 1;
	return 0;
}

bool siem_digits(const char *p, size_t n, unsigned *out)
{
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!siem_isdigit(p[i]))
			return false;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	*out = v;
	return true;
}

static bool valid_date(unsigned y, unsigned mo, unsigned d, unsigned h,
		       unsigned mi, unsigned s)
{
	static const unsigned char mdays[] = { 31, 29, 31, 30, 31, 30,
					       31, 31, 30, 31, 30, 31 };
	/* 2261 keeps civil_ns() inside int64_t ns (which ends in 2262) */
	if (y < 1900 || y > 2261 || mo < 1 || mo > 12 || d < 1 ||
	    d > mdays[mo - 1] || h > 23 || mi > 59 || s > 60)
		return false;
	if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return false;
	return true;
}

static int64_t civil_ns(unsigned y, unsigned mo, unsigned d, unsigned h,
			unsigned mi, unsigned s)
{
	if (s == 60) /* leap second: hold at :59 rather than roll over */
		s = 59;
	int64_t days = siem_days_from_civil(y, mo, d);
	return ((days * 86400) + h * 3600 + mi * 60 + s) * 1000000000LL;
}

/* ".123456" after the seconds: up to 9 digits count, more are read and
 * ignored. Returns bytes consumed (0 if there is no fraction). */
static size_t frac_ns(const char *p, size_t len, int64_t *ns)
{
	*ns = 0;
	if (len < 2 || (p[0] != '.' && p[0] != ',') || !siem_isdigit(p[1]))
		return 0;
	size_t i = 1;
	int64_t scale = 100000000;
	while (i < len && siem_isdigit(p[i])) {
		if (scale > 0) {
			*ns += (p[i] - '0') * scale;
			scale /= 10;
		}
		i++;
		if (i > 32)
			return 0;
	}
	return i;
}

int siem_time_parse_rfc3339(const char *p, size_t len, int64_t *out)
{
	unsigned y, mo, d, h, mi, s;
	if (len < 19 || !siem_digits(p, 4, &y) || p[4] != '-' ||
	    !siem_digits(p + 5, 2, &mo) || p[7] != '-' ||
	    !siem_digits(p + 8, 2, &d) ||
	    (p[10] != 'T' && p[10] != 't' && p[10] != ' ') ||
	    !siem_digits(p + 11, 2, &h) || p[13] != ':' ||
	    !siem_digits(p + 14, 2, &mi) || p[16] != ':' ||
	    !siem_digits(p + 17, 2, &s))
		return -1;
	if (!valid_date(y, mo, d, h, mi, s))
		return -1;
	size_t i = 19;
	int64_t fr;
	i += frac_ns(p + i, len - i, &fr);
	int64_t off = 0;
	if (i < len && (p[i] == 'Z' || p[i] == 'z')) {
		i++;
	} else if (i < len && (p[i] == '+' || p[i] == '-')) {
		unsigned oh, om;
		if (len - i < 6 || !siem_digits(p + i + 1, 2, &oh) ||
		    p[i + 3] != ':' || !siem_digits(p + i + 4, 2, &om) ||
		    oh > 23 || om > 59)
			return -1;
		off = (int64_t)(oh * 3600 + om * 60) * 1000000000LL;
		if (p[i] == '-')
			off = -off;
		i += 6;
	} else {
		return -1; /* RFC 3339 requires a zone */
	}
	if (i != len)
		return -1;
	int64_t t = civil_ns(y, mo, d, h, mi, s) + fr - off;
	if (!siem_ts_valid(t))
		return -1;
	*out = t;
	return 0;
}

int64_t siem_opts_now(const struct siem_parse_opts *o)
{
	return (o && o->now_ns) ? o->now_ns : bw_clock_now_ns();
}

size_t siem_bsd_time(const char *p, size_t len,
		     const struct siem_parse_opts *o, int64_t *out)
{
	/* "Mmm dd hh:mm:ss" with dd space-padded or zero-padded; some
	 * senders (Cisco, some appliances) put a year before the time, and
	 * rsyslog's high-precision variants add a fraction. */
	unsigned mo, d, h, mi, s, y = 0;
	if (len < 15 || !siem_isalpha(p[0]) || p[3] != ' ')
		return 0;
	mo = siem_month_parse(p);
	if (!mo)
		return 0;
	size_t i = 4;
	if (p[i] == ' ')
		i++;
	if (i < len && siem_isdigit(p[i]) && i + 1 < len &&
	    siem_isdigit(p[i + 1])) {
		siem_digits(p + i, 2, &d);
		i += 2;
	} else if (i < len && siem_isdigit(p[i])) {
		d = (unsigned)(p[i] - '0');
		i++;
	} else {
		return 0;
	}
	if (i >= len || p[i] != ' ')
		return 0;
	i++;
	if (len - i >= 5 && siem_digits(p + i, 4, &y) && p[i + 4] == ' ')
		i += 5;
	else
		y = 0;
	if (len - i < 8 || !siem_digits(p + i, 2, &h) || p[i + 2] != ':' ||
	    !siem_digits(p + i + 3, 2, &mi) || p[i + 5] != ':' ||
	    !siem_digits(p + i + 6, 2, &s))
		return 0;
	i += 8;
	int64_t fr;
	i += frac_ns(p + i, len - i, &fr);
	int64_t now = siem_opts_now(o);
	int32_t tz = o ? o->tz_offset_s : 0;
	if (y == 0) {
		/* No year: take the receiver's, but a December line read in
		 * January belongs to last year. More than a month ahead of
		 * now means it was last year. */
		int64_t days = (now / 1000000000LL + tz) / 86400;
		/* civil_from_days, year only */
		int64_t z = days + 719468;
		int64_t era = (z >= 0 ? z : z - 146096) / 146097;
		int64_t doe = z - era * 146097;
		int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
		int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
		int64_t mp = (5 * doy + 2) / 153;
		int64_t m = mp < 10 ? mp + 3 : mp - 9;
		int64_t yy = yoe + era * 400 + (m <= 2);
		y = (unsigned)yy;
		if (!valid_date(y, mo, d, h, mi, s) && mo == 2 && d == 29)
			y--; /* Feb 29 from a leap year read in another */
		if (!valid_date(y, mo, d, h, mi, s))
			return 0;
		int64_t t = civil_ns(y, mo, d, h, mi, s) -
			    (int64_t)tz * 1000000000LL;
		if (t - now > 31LL * 86400 * 1000000000LL) {
			y--;
			if (!valid_date(y, mo, d, h, mi, s))
				return 0;
		}
	}
	if (!valid_date(y, mo, d, h, mi, s))
		return 0;
	int64_t t = civil_ns(y, mo, d, h, mi, s) + fr - (int64_t)tz * 1000000000LL;
	if (!siem_ts_valid(t))
		return 0;
	*out = t;
	return i;
}

bool siem_is_ip(const char *p, size_t len)
{
	char tmp[64];
	unsigned char bin[16];
	if (len == 0 || len >= sizeof(tmp))
		return false;
	memcpy(tmp, p, len);
	tmp[len] = '\0';
	if (memchr(p, ':', len))
		return inet_pton(AF_INET6, tmp, bin) == 1;
	return inet_pton(AF_INET, tmp, bin) == 1;
}

bool siem_tmatch(const char *tmpl, const char *p, size_t len,
		 struct bw_str *caps, size_t ncaps)
{
	size_t i = 0, c = 0;
	while (*tmpl) {
		if (tmpl[0] == '%' && tmpl[1]) {
			char k = tmpl[1];
			tmpl += 2;
			size_t start = i;
			if (k == 'r') {
				i = len;
			} else if (k == 'w') {
				while (i < len && p[i] != ' ')
					i++;
				/* a word followed by a literal that is not a
				 * space ends at that literal (e.g. "%w:") */
				if (*tmpl && *tmpl != ' ' && *tmpl != '%') {
					const char *lit = tmpl;
					size_t ll = 0;
					while (lit[ll] && lit[ll] != ' ' &&
					       lit[ll] != '%')
						ll++;
					for (size_t j = start; j + ll <= i; j++)
						if (memcmp(p + j, lit, ll) == 0) {
							i = j;
							break;
						}
				}
				if (i == start)
					return false;
			} else if (k == 'd') {
				while (i < len && siem_isdigit(p[i]))
					i++;
				if (i == start)
					return false;
			} else {
				return false; /* bad template: programming error */
			}
			if (c < ncaps)
				caps[c] = bw_str_make(p + start, i - start);
			c++;
			continue;
		}
		if (i >= len || p[i] != *tmpl)
			return false;
		i++, tmpl++;
	}
	return i == len;
}

void siem_event_classify(struct siem_event *ev, const char *category,
			 const char *type, const char *action,
			 const char *outcome)
{
	if (category)
		siem_event_setz(ev, SIEM_F_EVENT_CATEGORY, category);
	if (type)
		siem_event_setz(ev, SIEM_F_EVENT_TYPE, type);
	if (action)
		siem_event_setz(ev, SIEM_F_EVENT_ACTION, action);
	if (outcome)
		siem_event_setz(ev, SIEM_F_EVENT_OUTCOME, outcome);
}

char *siem_parse_begin(const char *p, size_t len,
		       const struct siem_parse_opts *o, struct bw_arena *a,
		       struct siem_event *ev, struct bw_err *err)
{
	size_t max = (o && o->max_line) ? o->max_line : SIEM_LINE_MAX_DEFAULT;
	if (max > SIEM_LINE_MAX_HARD)
		max = SIEM_LINE_MAX_HARD;
	siem_event_init(ev, a);
	ev->ts_ns = siem_opts_now(o);
	if (len > max) {
		SIEM_ERR(err, 413, "too_large",
			 "log line of %zu bytes exceeds the limit of %zu", len,
			 max);
		return NULL;
	}
	/* Two copies: event.original stays byte-exact, while parsers may
	 * unescape in place in the working copy they are handed. */
	char *orig = bw_arena_strndup(a, p ? p : "", len);
	char *c = bw_arena_strndup(a, p ? p : "", len);
	if (!orig || !c) {
		SIEM_ERR(err, 500, "memory", "event arena exhausted");
		return NULL;
	}
	siem_event_set(ev, SIEM_F_EVENT_ORIGINAL, orig, len);
	ev->work = c;
	siem_event_setz(ev, SIEM_F_EVENT_KIND, "event");
	if (o && o->observer &&
	    siem_event_setc(ev, SIEM_F_OBSERVER_IP, o->observer,
			    strlen(o->observer)) < 0)
		goto mem;
	if (o && o->tenant &&
	    siem_event_setc(ev, SIEM_F_TENANT, o->tenant, strlen(o->tenant)) < 0)
		goto mem;
	return c;
mem:
	SIEM_ERR(err, 500, "memory", "event arena exhausted");
	return NULL;
}
