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
/* siem_lower over n bytes of s into o (may be s), a word at a time. */
void siem_lower_bytes(char *o, const char *s, size_t n);
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

/* ================================================================ Sigma */

/* A field reference resolved at load time. */
enum fref_kind {
	FREF_SLOT,     /* an ECS slot: id */
	FREF_LABEL,    /* a label: name/len */
	FREF_KEYWORDS, /* keyword search: message and event.original */
};

struct fref {
	uint8_t kind;
	uint8_t id;
	const char *name; /* label key (arena), or the slot name */
	size_t len;
};

/* Compiled value operations. */
enum sv_op {
	SV_EQ,
	SV_CONTAINS,
	SV_PREFIX,
	SV_SUFFIX,
	SV_GLOB, /* s holds the pattern with SV_STAR / SV_ONE for * and ? */
	SV_RE,
	SV_CIDR,
	SV_LT,
	SV_LTE,
	SV_GT,
	SV_GTE,
	SV_EXISTS,
	SV_NULL,     /* field absent or empty */
	SV_FIELDREF, /* compare with another field: ref, sub-op in refop */
};

#define SV_STAR '\x01'
#define SV_ONE '\x02'

struct sv {
	uint8_t op;
	uint8_t refop; /* SV_FIELDREF: SV_EQ/CONTAINS/PREFIX/SUFFIX */
	bool cased;    /* compare case-sensitively */
	bool exists;   /* SV_EXISTS: wanted presence */
	const char *s; /* needle/pattern, lowercased unless cased (arena) */
	size_t len;
	void *re;      /* pcre2_code * (freed by an arena cleanup) */
	double num;
	uint8_t family, bits; /* SV_CIDR: 4 or 6, prefix length */
	uint8_t addr[16];
	struct fref ref; /* SV_FIELDREF */
};

/* One field condition of a selection: field, values, how they combine. */
struct fcond {
	struct fref f;
	bool all;    /* |all: every value must match (else any) */
	bool negate; /* |neq: no value may match */
	struct sv *v;
	size_t nv;
};

/* A conjunction of field conditions (one map of a selection). */
struct alt {
	struct fcond *c;
	size_t nc;
};

/* A search identifier: OR over alternatives (a list of maps), or one
 * alternative (a map or a keyword list). */
struct sel {
	const char *name;
	struct alt *alts;
	size_t nalts;
};

enum cn_kind { CN_SEL, CN_AND, CN_OR, CN_NOT };

struct cnode {
	uint8_t kind;
	uint32_t sel;
	struct cnode *a, *b;
};

enum corr_type {
	CORR_EVENT_COUNT,
	CORR_VALUE_COUNT,
	CORR_TEMPORAL,
	CORR_TEMPORAL_ORDERED,
};

/* A group-by field: its default reference and per-rule aliases. */
struct groupby {
	const char *name;
	struct fref def;
	struct fref *per_rule; /* [nrules]; kind 0xff = use def */
};

struct corr_def {
	uint8_t type;
	const char **refs; /* rule ids/names as written */
	uint32_t *rules;   /* resolved indices (after compile) */
	size_t nrules;
	struct groupby *gb;
	size_t ngb;
	int64_t timespan_ns;
	/* condition: count compared with each op present */
	bool has_gt, has_gte, has_lt, has_lte, has_eq;
	uint64_t gt, gte, lt, lte, eq;
	struct fref field; /* value_count */
	bool generate;     /* generate: true (referenced rules alert too) */
};

struct srule {
	struct siem_rule_info info;
	/* detection */
	struct sel *sels;
	size_t nsels;
	struct cnode *cond;
	/* correlation */
	struct corr_def *corr;
	bool referenced; /* used by some correlation */
};

struct siem_ruleset {
	struct bw_arena *arena; /* everything of this generation */
	struct srule **rules;
	size_t n, cap;
	bool compiled;
	struct rs_index *index; /* built by compile (siem_match.c) */
	uint32_t *detections;   /* indices of detection rules */
	size_t ndetections;
	uint32_t *correlations;
	size_t ncorrelations;
	struct siem_mapping *map; /* mapping file entries (arena), or NULL */
};

/* Loader internals shared with the matcher and tests. */
int siem_fref_resolve(struct bw_arena *a, const char *name, size_t len,
		      struct fref *out);
int siem_cond_parse(struct bw_arena *a, const char *text,
		    const struct sel *sels, size_t nsels, struct cnode **out,
		    char *msg, size_t msgcap);
/* Builds the field condition for one logsource attribute into c (values
 * from the arena). Returns 1 when a condition was made, 0 when the
 * logsource adds none, -1 when the arena is exhausted. */
int siem_logsource_cond(struct bw_arena *a, const char *key, const char *value,
			struct fcond *c);
/* The mapping the loader on this thread consults before the built-in
 * tables (set around one siem_ruleset_add_string; NULL: none). */
struct siem_mapping;
void siem_mapping_use(const struct siem_mapping *m);
/* Reads path (at most max bytes) and hands its text to load (the rule
 * or the mapping loader). */
int siem_load_file(struct siem_ruleset *rs, const char *path, size_t max,
		   int (*load)(struct siem_ruleset *, const char *, const char *,
			       size_t, struct bw_err *),
		   struct bw_err *err);
/* A loader error at node n (FILE:LINE:COL: key path: message), module
 * "siem", code 413 for reason "limit" else conf_err's 400. Returns -1. */
struct conf_node;
int siem_node_err(const struct conf_node *n, struct bw_err *err,
		  const char *reason, const char *fmt, ...) BW_PRINTF(4, 5);
bool siem_glob_match(const char *pat, size_t plen, const char *s, size_t slen);
int siem_index_build(struct siem_ruleset *rs, struct bw_err *err);
void siem_index_free(struct siem_ruleset *rs);

/* Evaluate one detection rule on an event (no index), for tests and the
 * matcher. scratch is the matcher. */
struct siem_matcher;
bool siem_rule_eval(struct siem_matcher *m, const struct srule *r,
		    const struct siem_event *ev);
/* The value of a field reference in ev ({NULL,0} when absent); keyword
 * references return the message. */
struct bw_str siem_fref_get(const struct siem_event *ev, const struct fref *f);

#endif
