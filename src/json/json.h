/*
 * json — bulwark's one strict JSON reader and writer (RFC 8259), and the
 * RFC 8785 canonical form the audit log hashes.
 *
 * Reader: json_parse() builds a tree in a caller-supplied arena; every
 * string is decoded to UTF-8 (escapes resolved, invalid UTF-8 and lone
 * surrogates rejected), numbers keep their source text so nothing is lost.
 * Limits (size, depth, string length, members) are enforced while parsing;
 * duplicate object keys are rejected unless the caller allows them (then
 * the last one wins on lookup, as ECMAScript does).
 *
 * Writer: struct json_writer appends to a bounded struct bw_buf and tracks
 * nesting and commas itself, so callers cannot produce invalid JSON.
 *
 * Canonical form: json_canonicalize() writes RFC 8785 (JCS): members sorted
 * by UTF-16 code units, no whitespace, ECMAScript number serialisation,
 * minimal string escaping.
 */
#ifndef BW_JSON_H
#define BW_JSON_H

#include "core/core.h"

enum json_type {
	JSON_NULL,
	JSON_FALSE,
	JSON_TRUE,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT,
};

struct json_value;

struct json_member {
	struct bw_str key; /* decoded UTF-8, may contain NUL bytes */
	struct json_value *value;
};

struct json_value {
	enum json_type type;
	union {
		struct bw_str str; /* JSON_STRING: decoded UTF-8 (NUL-terminated
				      in the arena, but may contain NUL) */
		struct {
			struct bw_str raw; /* the number's source text */
			double d;          /* its value as a double */
			int64_t i;         /* valid when is_int */
			bool is_int;       /* integral and fits in int64_t */
		} num;
		struct {
			struct json_value **items;
			size_t n;
		} arr;
		struct {
			struct json_member *members; /* in document order */
			size_t n;
		} obj;
	} u;
};

enum json_dup_policy {
	JSON_DUP_REJECT, /* default: a repeated key is a parse error */
	JSON_DUP_LAST,   /* keep all; lookups return the last */
};

struct json_limits {
	size_t max_bytes;   /* whole document */
	size_t max_depth;   /* nesting of arrays/objects */
	size_t max_string;  /* bytes in one decoded string or key */
	size_t max_members; /* items in one array or members in one object */
	enum json_dup_policy dup;
};

/* Defaults (json_limits.h): 1 MiB, depth 64, 64 KiB strings, 10,000
 * members, duplicates rejected. In a caller's struct a field left 0 takes
 * its default, and a value above json_limits.h's hard maximum is clamped. */
extern const struct json_limits json_default_limits;

/*
 * Parses exactly one JSON text from (p, len) — surrounding whitespace
 * allowed, anything else after it is an error. Allocates the tree from
 * arena `a` (the caller owns the arena; the tree lives until it is freed).
 * lim may be NULL for the defaults. On error returns NULL and fills err
 * with code 400 (413 when a size limit tripped), a reason token
 * ("syntax", "depth", "too_large", "dup_key", "utf8", ...) and a message
 * naming the byte offset.
 */
/* The input is not referenced afterwards (strings and number texts are
 * copied), so it may be freed once this returns. ("memory", 500) means a
 * malloc of the parser's scratch space failed. */
struct json_value *json_parse(struct bw_arena *a, const char *p, size_t len,
			      const struct json_limits *lim,
			      struct bw_err *err) BW_WUR;

/* Object lookup by key (NUL-terminated key); NULL if absent or v is not an
 * object. With duplicates allowed, the last member wins. */
const struct json_value *json_get(const struct json_value *v, const char *key);
/* Typed accessors: return the fallback when absent or of another type. */
const char *json_get_str(const struct json_value *v, const char *key,
			 const char *fallback);
int64_t json_get_int(const struct json_value *v, const char *key,
		     int64_t fallback);
bool json_get_bool(const struct json_value *v, const char *key, bool fallback);

/* ------------------------------------------------------------------ writer */

#define JSON_WRITER_MAX_DEPTH 64

struct json_writer {
	struct bw_buf *out; /* borrowed */
	int depth;
	bool need_comma[JSON_WRITER_MAX_DEPTH + 1];
	bool after_key;
	bool failed; /* sticky: set when out's ceiling or depth was exceeded,
			or a call came out of order (a key outside an object,
			a value where a key is due, a second top-level value) */
	uint64_t in_object; /* bit d-1 set while level d is an object */
};

void json_writer_init(struct json_writer *w, struct bw_buf *out);
void json_write_object_begin(struct json_writer *w);
void json_write_object_end(struct json_writer *w);
void json_write_array_begin(struct json_writer *w);
void json_write_array_end(struct json_writer *w);
/* Keys and strings are escaped as RFC 8785 does (\" \\ \b \f \n \r \t,
 * \u00xx for other controls, all else raw). Bytes that are not valid
 * UTF-8 are written as U+FFFD, one per bad byte, so the output is always
 * valid JSON; validate first if bad input must be refused instead. */
void json_write_key(struct json_writer *w, const char *key);
void json_write_string(struct json_writer *w, const char *s);
void json_write_stringn(struct json_writer *w, const char *s, size_t n);
void json_write_int(struct json_writer *w, int64_t v);
void json_write_uint(struct json_writer *w, uint64_t v);
/* ECMAScript form (1e+21, 1e-7, -0 as 0); NaN and infinities as null. */
void json_write_double(struct json_writer *w, double v);
void json_write_bool(struct json_writer *w, bool v);
void json_write_null(struct json_writer *w);
/* Writes an already-parsed value (as compact JSON, member order kept). */
void json_write_value(struct json_writer *w, const struct json_value *v);
/* Shorthands for "key": value inside an object. */
void json_write_kv_string(struct json_writer *w, const char *key, const char *s);
void json_write_kv_int(struct json_writer *w, const char *key, int64_t v);
void json_write_kv_bool(struct json_writer *w, const char *key, bool v);
/* 0 when everything written so far fit and nesting is closed; -1 otherwise
 * (also when nothing was written: an empty buffer is not JSON). On -1 the
 * buffer holds a truncated prefix to discard. */
int json_writer_finish(struct json_writer *w) BW_WUR;

/* ---------------------------------------------------------- canonical form */

/* Appends the RFC 8785 canonical form of v to out. -1 if out's ceiling is
 * reached or a number cannot be represented (NaN/Infinity). */
int json_canonicalize(const struct json_value *v, struct bw_buf *out) BW_WUR;
/* Parses (p, len) and appends its canonical form; err as json_parse. */
int json_canonicalize_text(const char *p, size_t len, struct bw_buf *out,
			   struct bw_err *err) BW_WUR;

#endif
