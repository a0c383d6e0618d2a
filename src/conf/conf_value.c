/*
 * Typed interpretation of scalars: strings, booleans, integers, byte
 * sizes, durations, enums, ports and paths, each with its own precise
 * message, plus the required/optional getters on a mapping.
 *
 * Invariants: only plain (unquoted) scalars are numbers or booleans; every
 * arithmetic step is overflow-checked; OUT parameters are written only on
 * success. Values echoed in messages are cut to a short, printable preview
 * so a stray secret or control character never lands whole in a log.
 */
#include "conf/conf_int.h"
#include "conf/conf_limits.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* A short printable rendering of a scalar for messages. */
static const char *preview(const struct conf_node *n, char buf[40])
{
	size_t o = 0;
	for (size_t i = 0; i < n->len && o < 32; i++) {
		unsigned char c = (unsigned char)n->str[i];
		buf[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (n->len > 32) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

/* Common checks for values that must be plain scalars (numbers, booleans,
 * sizes, durations). what is e.g. "an integer". */
static int want_plain(const struct conf_node *n, const char *what,
		      struct bw_err *err)
{
	if (!n)
		return conf_err(n, err, "type", "must be %s", what);
	if (n->kind != CONF_SCALAR || n->null)
		return conf_err(n, err, "type", "must be %s, not %s", what,
				conf_node_describe(n));
	if (n->quoted)
		return conf_err(n, err, "type",
				"must be %s, not a quoted string (remove the "
				"quotes)",
				what);
	return 0;
}

int conf_as_str(const struct conf_node *n, const char **out, struct bw_err *err)
{
	if (!n || n->kind != CONF_SCALAR || n->null)
		return conf_err(n, err, "type", "must be a string, not %s",
				conf_node_describe(n));
	*out = n->str;
	return 0;
}

int conf_as_bool(const struct conf_node *n, bool *out, struct bw_err *err)
{
	char pv[40];
	if (want_plain(n, "true or false", err) < 0)
		return -1;
	if (strcmp(n->str, "true") == 0) {
		*out = true;
		return 0;
	}
	if (strcmp(n->str, "false") == 0) {
		*out = false;
		return 0;
	}
	return conf_err(n, err, "type",
			"must be true or false, not '%s' (yes/no/on/off are "
			"not booleans here)",
			preview(n, pv));
}

enum numres { NUM_OK, NUM_SYNTAX, NUM_LEADING_ZERO, NUM_OVERFLOW };

/* Decimal digits [s, s+len) with no sign; no leading zeros. */
static enum numres parse_digits(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	if (len == 0)
		return NUM_SYNTAX;
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return NUM_SYNTAX;
	if (len > 1 && s[0] == '0')
		return NUM_LEADING_ZERO;
	for (size_t i = 0; i < len; i++) {
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(s[i] - '0'), &v))
			return NUM_OVERFLOW;
	}
	*out = v;
	return NUM_OK;
}

static int num_err(const struct conf_node *n, enum numres r, const char *what,
		   struct bw_err *err)
{
	char pv[40];
	if (r == NUM_LEADING_ZERO)
		return conf_err(n, err, "type",
				"must be %s without leading zeros (is '%s' "
				"meant as octal?)",
				what, preview(n, pv));
	return conf_err(n, err, "type", "must be %s, not '%s'", what,
			preview(n, pv));
}

int conf_as_int(const struct conf_node *n, int64_t min, int64_t max,
		int64_t *out, struct bw_err *err)
{
	if (want_plain(n, "an integer", err) < 0)
		return -1;
	const char *s = n->str;
	size_t len = n->len;
	bool neg = len > 0 && s[0] == '-';
	uint64_t mag;
	enum numres r = parse_digits(s + neg, len - neg, &mag);
	if (r == NUM_SYNTAX || r == NUM_LEADING_ZERO)
		return num_err(n, r, "an integer", err);
	int64_t v;
	bool fits;
	if (r == NUM_OVERFLOW) {
		fits = false;
		v = 0;
	} else if (neg) {
		fits = mag <= (uint64_t)INT64_MAX + 1;
		v = fits ? (mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN
							   : -(int64_t)mag)
			 : 0;
		if (mag == 0) /* "-0" is a typo, not a value */
			return num_err(n, NUM_SYNTAX, "an integer", err);
	} else {
		fits = mag <= (uint64_t)INT64_MAX;
		v = (int64_t)mag;
	}
	if (!fits || v < min || v > max)
		return conf_err(n, err, "range",
				"must be between %" PRId64 " and %" PRId64, min,
				max);
	*out = v;
	return 0;
}

int conf_as_uint64(const struct conf_node *n, uint64_t min, uint64_t max,
		   uint64_t *out, struct bw_err *err)
{
	if (want_plain(n, "a non-negative integer", err) < 0)
		return -1;
	uint64_t v = 0;
	enum numres r = NUM_OK;
	if (n->len > 1 && n->str[0] == '-' &&
	    parse_digits(n->str + 1, n->len - 1, &v) != NUM_SYNTAX)
		r = NUM_OVERFLOW; /* a negative number: out of range */
	else
		r = parse_digits(n->str, n->len, &v);
	if (r == NUM_SYNTAX || r == NUM_LEADING_ZERO)
		return num_err(n, r, "a non-negative integer", err);
	if (r == NUM_OVERFLOW || v < min || v > max)
		return conf_err(n, err, "range",
				"must be between %" PRIu64 " and %" PRIu64, min,
				max);
	*out = v;
	return 0;
}

/* ------------------------------------------------------------------ sizes */

static bool ieq(const char *a, size_t alen, const char *lit)
{
	size_t n = strlen(lit);
	if (alen != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = a[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != lit[i])
			return false;
	}
	return true;
}

static enum numres parse_size(const char *s, size_t len, uint64_t *out)
{
	size_t d = 0;
	while (d < len && s[d] >= '0' && s[d] <= '9')
		d++;
	uint64_t v;
	enum numres r = parse_digits(s, d, &v);
	if (r != NUM_OK)
		return r;
	static const struct {
		const char *sfx;
		unsigned shift;
	} units[] = {
	    {"", 0},	 {"b", 0},  {"k", 10},	 {"kib", 10}, {"m", 20},
	    {"mib", 20}, {"g", 30}, {"gib", 30}, {"t", 40},   {"tib", 40},
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(units); i++) {
		if (!ieq(s + d, len - d, units[i].sfx))
			continue;
		unsigned sh = units[i].shift;
		if (sh && v > (UINT64_MAX >> sh))
			return NUM_OVERFLOW;
		*out = v << sh;
		return NUM_OK;
	}
	return NUM_SYNTAX;
}

int conf_parse_size(const char *s, size_t len, uint64_t *out)
{
	return s && parse_size(s, len, out) == NUM_OK ? 0 : -1;
}

int conf_as_size(const struct conf_node *n, uint64_t min, uint64_t max,
		 uint64_t *out, struct bw_err *err)
{
	static const char what[] = "a size like 512, 64k, 16m or 1g";
	char pv[40];
	if (want_plain(n, what, err) < 0)
		return -1;
	uint64_t v = 0;
	enum numres r = parse_size(n->str, n->len, &v);
	if (r == NUM_SYNTAX || r == NUM_LEADING_ZERO)
		return num_err(n, r, what, err);
	if (r == NUM_OVERFLOW)
		return conf_err(n, err, "range", "size '%s' is too large",
				preview(n, pv));
	if (v < min || v > max)
		return conf_err(n, err, "range",
				"must be between %" PRIu64 " and %" PRIu64
				" bytes",
				min, max);
	*out = v;
	return 0;
}

/* -------------------------------------------------------------- durations */

static enum numres parse_duration(const char *s, size_t len, uint64_t *out)
{
	/* Units in the only order they may appear, largest first. */
	static const struct {
		const char *u;
		uint64_t ms;
	} units[] = {
	    {"d", 86400000}, {"h", 3600000}, {"m", 60000},
	    {"s", 1000},     {"ms", 1},
	};
	uint64_t total = 0;
	size_t i = 0, next_unit = 0;
	if (len == 1 && s[0] == '0') {
		*out = 0;
		return NUM_OK;
	}
	if (len == 0)
		return NUM_SYNTAX;
	while (i < len) {
		size_t d = i;
		while (d < len && s[d] >= '0' && s[d] <= '9')
			d++;
		uint64_t v;
		enum numres r = parse_digits(s + i, d - i, &v);
		if (r != NUM_OK)
			return r;
		size_t e = d;
		while (e < len && s[e] >= 'a' && s[e] <= 'z')
			e++;
		size_t u;
		for (u = next_unit; u < BW_ARRAY_LEN(units); u++)
			if (strlen(units[u].u) == e - d &&
			    memcmp(units[u].u, s + d, e - d) == 0)
				break;
		if (u == BW_ARRAY_LEN(units))
			return NUM_SYNTAX;
		uint64_t part;
		if (__builtin_mul_overflow(v, units[u].ms, &part) ||
		    __builtin_add_overflow(total, part, &total))
			return NUM_OVERFLOW;
		next_unit = u + 1;
		i = e;
	}
	*out = total;
	return NUM_OK;
}

int conf_parse_duration(const char *s, size_t len, uint64_t *out_ms)
{
	return s && parse_duration(s, len, out_ms) == NUM_OK ? 0 : -1;
}

/* Render milliseconds in the largest exact unit, for range messages. */
static void fmt_ms(uint64_t ms, char *out, size_t cap)
{
	static const struct {
		const char *u;
		uint64_t ms;
	} units[] = {
	    {"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}};
	for (size_t i = 0; i < BW_ARRAY_LEN(units); i++) {
		if (ms && ms % units[i].ms == 0) {
			snprintf(out, cap, "%" PRIu64 "%s", ms / units[i].ms,
				 units[i].u);
			return;
		}
	}
	snprintf(out, cap, "%" PRIu64 "ms", ms);
}

int conf_as_duration(const struct conf_node *n, uint64_t min_ms,
		     uint64_t max_ms, uint64_t *out_ms, struct bw_err *err)
{
	static const char what[] =
	    "a duration like 500ms, 30s, 5m, 1h, 7d or 1h30m";
	char pv[40];
	if (want_plain(n, what, err) < 0)
		return -1;
	uint64_t v = 0;
	enum numres r = parse_duration(n->str, n->len, &v);
	if (r == NUM_SYNTAX || r == NUM_LEADING_ZERO)
		return num_err(n, r, what, err);
	if (r == NUM_OVERFLOW)
		return conf_err(n, err, "range", "duration '%s' is too long",
				preview(n, pv));
	if (v < min_ms || v > max_ms) {
		char a[32], b[32];
		fmt_ms(min_ms, a, sizeof(a));
		fmt_ms(max_ms, b, sizeof(b));
		return conf_err(n, err, "range", "must be between %s and %s", a,
				b);
	}
	*out_ms = v;
	return 0;
}

/* ---------------------------------------------------- enums, ports, paths */

int conf_as_enum(const struct conf_node *n, const char *const *values,
		 int *index, struct bw_err *err)
{
	char list[160];
	char pv[40];
	size_t used = 0;
	if (!n || n->kind != CONF_SCALAR || n->null)
		goto bad;
	for (int i = 0; values && values[i]; i++) {
		if (strcmp(values[i], n->str) == 0) {
			*index = i;
			return 0;
		}
	}
bad:
	list[0] = '\0';
	for (size_t k = 0; values && values[k]; k++) {
		int w = snprintf(list + used, sizeof(list) - used, "%s%s",
				 k ? ", " : "", values[k]);
		if (w < 0 || (size_t)w >= sizeof(list) - used) {
			/* Cut at the last whole entry. */
			if (used + 6 <= sizeof(list))
				memcpy(list + used, ", ...", 6);
			break;
		}
		used += (size_t)w;
	}
	if (!n || n->kind != CONF_SCALAR || n->null)
		return conf_err(n, err, "enum", "must be one of %s, not %s",
				list, conf_node_describe(n));
	const char *s = conf_suggest(n->str, values);
	if (s)
		return conf_err(n, err, "enum",
				"unknown value '%s' (did you mean '%s'?)",
				preview(n, pv), s);
	return conf_err(n, err, "enum", "must be one of %s, not '%s'", list,
			preview(n, pv));
}

int conf_as_port(const struct conf_node *n, uint16_t *out, struct bw_err *err)
{
	int64_t v;
	if (conf_as_int(n, 0, 65535, &v, err) < 0)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

int conf_as_path(const struct conf_node *n, const char **out,
		 struct bw_err *err)
{
	const char *s;
	if (conf_as_str(n, &s, err) < 0)
		return -1;
	if (n->len == 0)
		return conf_err(n, err, "type", "must be a path, not empty");
	if (n->len >= CONF_PATH_MAX)
		return conf_err(n, err, "range", "path longer than %u bytes",
				CONF_PATH_MAX - 1);
	*out = s;
	return 0;
}

/* ------------------------------------------------------------- getters */

/* 1: value found (in *v); 0: absent or null and optional; -1: error. */
static int lookup(const struct conf_node *map, const char *key, bool required,
		  const struct conf_node **v, struct bw_err *err)
{
	if (conf_expect(map, CONF_MAPPING, err) < 0)
		return -1;
	*v = conf_get(map, key);
	if (*v && !((*v)->kind == CONF_SCALAR && (*v)->null))
		return 1;
	if (!required)
		return 0;
	if (*v)
		return conf_err(*v, err, "missing",
				"needs a value (it is null)");
	return conf_err(map, err, "missing", "missing required key '%s'", key);
}

int conf_get_str(const struct conf_node *map, const char *key, const char **out,
		 struct bw_err *err)
{
	const struct conf_node *v;
	int r = lookup(map, key, true, &v, err);
	return r < 0 ? -1 : conf_as_str(v, out, err);
}

int conf_opt_str(const struct conf_node *map, const char *key, const char *def,
		 const char **out, struct bw_err *err)
{
	const struct conf_node *v;
	int r = lookup(map, key, false, &v, err);
	if (r <= 0) {
		if (r == 0)
			*out = def;
		return r;
	}
	return conf_as_str(v, out, err);
}

int conf_get_bool(const struct conf_node *map, const char *key, bool *out,
		  struct bw_err *err)
{
	const struct conf_node *v;
	return lookup(map, key, true, &v, err) < 0 ? -1
						   : conf_as_bool(v, out, err);
}

int conf_opt_bool(const struct conf_node *map, const char *key, bool def,
		  bool *out, struct bw_err *err)
{
	const struct conf_node *v;
	int r = lookup(map, key, false, &v, err);
	if (r <= 0) {
		if (r == 0)
			*out = def;
		return r;
	}
	return conf_as_bool(v, out, err);
}

int conf_get_int(const struct conf_node *map, const char *key, int64_t min,
		 int64_t max, int64_t *out, struct bw_err *err)
{
	const struct conf_node *v;
	return lookup(map, key, true, &v, err) < 0
		   ? -1
		   : conf_as_int(v, min, max, out, err);
}

int conf_opt_int(const struct conf_node *map, const char *key, int64_t def,
		 int64_t min, int64_t max, int64_t *out, struct bw_err *err)
{
	const struct conf_node *v;
	int r = lookup(map, key, false, &v, err);
	if (r <= 0) {
		if (r == 0)
			*out = def;
		return r;
	}
	return conf_as_int(v, min, max, out, err);
}

int conf_get_uint64(const struct conf_node *map, const char *key, uint64_t min,
		    uint64_t max, uint64_t *out, struct bw_err *err)
{
	const struct conf_node *v;
	return lookup(map, key, true, &v, err) < 0
		   ? -1
		   : conf_as_uint64(v, min, max, out, err);
}

int conf_opt_uint64(const struct conf_node *map, const char *key, uint64_t def,
		    uint64_t min, uint64_t max, uint64_t *out,
		    struct bw_err *err)
{
	const struct conf_node *v;
	int r = lookup(map, key, false, &v, err);
	if (r <= 0) {
		if (r == 0)
			*out = def;
		return r;
	}
	return conf_as_uint64(v, min, max, out, err);
}

int conf_get_size(const struct conf_node *map, const char *key, uint64_t min,
		  uint64_t max, uint64_t *out, struct bw_err *err)
{
	const struct conf_node *v;
	return lookup(map, key, true, &v, err) < 0
		   ? -1
		   : conf_as_size(v, min, max, out, err);
}

int conf_opt_size(const struct conf_node *map, const char *key, uint64_t def,
		  uint64_t min, uint64_t max, uint64_t *out, struct bw_err *err)
{
	const struct conf_node *v;
	int r = lookup(map, key, false, &v, err);
	if (r <= 0) {
		if (r == 0)
			*out = def;
		return r;
	}
	return conf_as_size(v, min, max, out, err);
}

int conf_get_duration(const struct conf_node *map, const char *key,
		      uint64_t min_ms, uint64_t max_ms, uint64_t *out_ms,
		      struct bw_err *err)
{
	const struct conf_node *v;
	return lookup(map, key, true, &v, err) < 0
		   ? -1
		   : conf_as_duration(v, min_ms, max_ms, out_ms, err);
}

int conf_opt_duration(const struct conf_node *map, const char *key,
		      uint64_t def_ms, uint64_t min_ms, uint64_t max_ms,
		      uint64_t *out_ms, struct bw_err *err)
{
	const struct conf_node *v;
	int r = lookup(map, key, false, &v, err);
	if (r <= 0) {
		if (r == 0)
			*out_ms = def_ms;
		return r;
	}
	return conf_as_duration(v, min_ms, max_ms, out_ms, err);
}

int conf_get_enum(const struct conf_node *map, const char *key,
		  const char *const *values, int *index, struct bw_err *err)
{
	const struct conf_node *v;
	return lookup(map, key, true, &v, err) < 0
		   ? -1
		   : conf_as_enum(v, values, index, err);
}

int conf_opt_enum(const struct conf_node *map, const char *key,
		  const char *const *values, int def, int *index,
		  struct bw_err *err)
{
	const struct conf_node *v;
	int r = lookup(map, key, false, &v, err);
	if (r <= 0) {
		if (r == 0)
			*index = def;
		return r;
	}
	return conf_as_enum(v, values, index, err);
}

int conf_get_port(const struct conf_node *map, const char *key, uint16_t *out,
		  struct bw_err *err)
{
	const struct conf_node *v;
	return lookup(map, key, true, &v, err) < 0 ? -1
						   : conf_as_port(v, out, err);
}

int conf_opt_port(const struct conf_node *map, const char *key, uint16_t def,
		  uint16_t *out, struct bw_err *err)
{
	const struct conf_node *v;
	int r = lookup(map, key, false, &v, err);
	if (r <= 0) {
		if (r == 0)
			*out = def;
		return r;
	}
	return conf_as_port(v, out, err);
}

int conf_get_path(const struct conf_node *map, const char *key,
		  const char **out, struct bw_err *err)
{
	const struct conf_node *v;
	return lookup(map, key, true, &v, err) < 0 ? -1
						   : conf_as_path(v, out, err);
}

int conf_opt_path(const struct conf_node *map, const char *key, const char *def,
		  const char **out, struct bw_err *err)
{
	const struct conf_node *v;
	int r = lookup(map, key, false, &v, err);
	if (r <= 0) {
		if (r == 0)
			*out = def;
		return r;
	}
	return conf_as_path(v, out, err);
}
