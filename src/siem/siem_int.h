/*
 * siem_int.h — declarations shared by the siem module's files and its
 * tests; no other module includes this. Small text helpers used by every
 * parser live here as static inline functions so each parser stays a
 * pure function over (pointer, length).
 */
#ifndef BW_SIEM_INT_H
#define BW_SIEM_INT_H

#include <string.h>

#include "siem/siem.h"
#include "siem/siem_limits.h"

/* Fills err and returns -1 (module "siem"). */
#define SIEM_ERR(err, code, reason, ...)                                       \
	bw_err_set((err), (code), "siem", (reason), __VA_ARGS__)

static inline bool siem_isdigit(int c)
{
	return c >= '0' && c <= '9';
}
static inline bool siem_isalpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
static inline bool siem_isalnum(int c)
{
	return siem_isdigit(c) || siem_isalpha(c);
}
static inline char siem_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}
static inline bool siem_str_startswith(const char *p, size_t len,
				       const char *lit)
{
	size_t n = strlen(lit);
	return len >= n && memcmp(p, lit, n) == 0;
}
static inline struct bw_str siem_trim(struct bw_str s)
{
	while (s.len && (s.p[0] == ' ' || s.p[0] == '\t'))
		s.p++, s.len--;
	while (s.len && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t' ||
			 s.p[s.len - 1] == '\r' || s.p[s.len - 1] == '\n'))
		s.len--;
	return s;
}

/* Event times are ns since the epoch in an int64_t, which reaches
 * 2262-04-11; parsers accept years 1900-2261 (see siem_text.c) and keep
 * only times from 1970 on, which RFC 3339 output can always express. */
static inline bool siem_ts_valid(int64_t t)
{
	return t >= 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
int64_t siem_days_from_civil(int64_t y, unsigned m, unsigned d);
/* "Jan".."Dec" (case-insensitive) to 1..12, or 0. */
unsigned siem_month_parse(const char *p);
/* Parses up to n decimal digits exactly (all must be digits). */
bool siem_digits(const char *p, size_t n, unsigned *out);

/* An IPv4 or IPv6 literal (inet_pton syntax)? */
bool siem_is_ip(const char *p, size_t len);

/* Copy the input line into the arena, init the event and set
 * event.original / receive time / observer / tenant. Returns a second,
 * writable arena copy (NUL-terminated) that the parser may unescape in
 * place, or NULL with err set. */
char *siem_parse_begin(const char *p, size_t len,
		       const struct siem_parse_opts *o, struct bw_arena *a,
		       struct siem_event *ev, struct bw_err *err);
int64_t siem_opts_now(const struct siem_parse_opts *o);

/*
 * Template matcher for program messages. The template is literal text
 * with captures: %w a word (non-empty, up to the next space), %r the
 * rest (possibly empty), %d digits. Captures go to caps[0..]. Returns
 * true when the whole message matched.
 */
bool siem_tmatch(const char *tmpl, const char *p, size_t len,
		 struct bw_str *caps, size_t ncaps);

/* Set category/type/action/outcome literals in one call (NULL skips). */
void siem_event_classify(struct siem_event *ev, const char *category,
			 const char *type, const char *action,
			 const char *outcome);

/* CEF/LEEF bodies without the arena copy (used inside syslog). */
int siem_cef_body(struct siem_event *ev, char *p, size_t len,
		  const struct siem_parse_opts *o, struct bw_err *err);
int siem_leef_body(struct siem_event *ev, char *p, size_t len,
		   const struct siem_parse_opts *o, struct bw_err *err);
int siem_access_body(struct siem_event *ev, char *p, size_t len,
		     struct bw_err *err);

/* The three-letter-month RFC 3164 timestamp "Mmm dd hh:mm:ss" at p
 * (optionally with year, fraction). Returns bytes consumed or 0. */
size_t siem_bsd_time(const char *p, size_t len,
		     const struct siem_parse_opts *o, int64_t *out);

/* Numeric-ness of fields, for JSON output and Sigma comparisons. */
bool siem_field_numeric(enum siem_field f);

#endif
