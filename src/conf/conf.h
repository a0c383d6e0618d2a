/*
 * conf — bulwark's YAML configuration machinery.
 *
 * conf_load_file()/conf_load_string() read one YAML document with libyaml
 * into a tree of struct conf_node allocated from the caller's arena. Each
 * module then turns its own section into a typed struct in its
 * <module>_conf.c, preferably with the declarative binder (conf_bind), or
 * with the typed getters below; no conf_node survives into runtime.
 *
 * What the loader refuses, always with FILE:LINE:COLUMN (1-based) of the
 * offending node: syntax errors, invalid UTF-8, NUL characters in scalars,
 * anchors and aliases (billion-laughs safety, and they make a config hard
 * to read), any tag (!!str, !foo, !), more than one document, non-scalar
 * or empty mapping keys, duplicate keys in a mapping (the message names
 * both lines), and inputs past the limits of conf_limits.h.
 *
 * Scalars keep their raw text and whether they were quoted. The typed
 * getters interpret them strictly: only plain `true`/`false` are booleans
 * (yes/no/on/off are not); a quoted scalar ("123") is a string and never a
 * number or boolean; plain `~`, `null`, `Null`, `NULL` and an empty plain
 * value are null, and null is never silently a string.
 *
 * Every error message has the shape
 *     FILE:LINE:COLUMN: key.path: message
 * e.g. "bulwark.yaml:12:5: listeners[1].port: must be between 0 and 65535"
 * with err->code 400, err->module "conf" and a stable err->reason token
 * (syntax, utf8, alias, tag, multi_doc, key, duplicate_key, limit, type,
 * range, missing, unknown_key, enum, secret_file, internal). Nodes not
 * from a file (binder defaults) have line 0 and print "FILE: (default)".
 *
 * Invariants: a loaded tree is immutable; every node points at its doc
 * and parent, so any node can produce a fully positioned message; all
 * memory (nodes and NUL-terminated string copies) is in the caller's
 * arena and dies with it. Nothing here is thread-affine; a tree may be
 * read from several threads at once.
 *
 * See docs/internals/CONF.md for how a module binds its section.
 */
#ifndef BW_CONF_H
#define BW_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* ------------------------------------------------------------------ tree */

enum conf_kind { CONF_SCALAR, CONF_MAPPING, CONF_SEQUENCE };

struct conf_doc;

/*
 * One YAML node. Read the fields directly; never modify them.
 *  - line/column: 1-based start of the node (of '{' / '[' for flow
 *    collections, of the first key or '-' for block ones).
 *  - key/key_line/key_column: set when the node is a value in a mapping
 *    (key is the NUL-terminated key text); NULL for the root and for
 *    sequence items.
 *  - index: position in the parent sequence (sequence items only).
 *  - scalars: str is a NUL-terminated copy of len bytes (never contains a
 *    NUL itself); quoted is true for '…', "…", | and > styles; null is true
 *    only for unquoted ~, null, Null, NULL and the empty plain scalar.
 *  - collections: items[0..nitems) in document order. For a mapping each
 *    item's key says which key it belongs to.
 */
struct conf_node {
	enum conf_kind kind;
	uint32_t line, column;
	uint32_t key_line, key_column;
	const struct conf_doc *doc;
	const struct conf_node *parent;
	const char *key;
	size_t index;
	const char *str;
	size_t len;
	bool quoted;
	bool null;
	struct conf_node **items;
	size_t nitems;
	struct conf_node **sorted; /* private: mapping items sorted by key */
};

/* A loaded document. root is never NULL; an empty document (or one that
 * holds only comments) loads as an empty mapping at 1:1. */
struct conf_doc {
	const char *name; /* the FILE of messages (arena copy) */
	struct conf_node *root;
	size_t nodes;		/* node count, for limits and statistics */
	struct bw_arena *arena; /* borrowed: the arena everything lives in */
};

/* Loader limits; see conf_limits.h for the defaults, the hard maxima and
 * why. A zero field means "the default"; a field above its hard maximum
 * is clamped to it. */
struct conf_limits {
	size_t max_bytes;  /* whole input */
	size_t max_depth;  /* nesting of mappings/sequences; root is 1 */
	size_t max_nodes;  /* scalars + collections, keys excluded */
	size_t max_scalar; /* bytes of one scalar value */
	size_t max_key;	   /* bytes of one mapping key */
	size_t max_keys;   /* keys in one mapping */
	size_t max_items;  /* items in one sequence */
};

/*
 * conf_load_file — read and parse the YAML file at path.
 *  path:  file to read (borrowed); also the FILE in messages.
 *  arena: where the tree and every string are allocated (borrowed; the
 *         tree lives until the arena is freed). Must not be NULL.
 *  err:   OUT: filled on failure (may be NULL).
 * Returns the document, or NULL with err set: code 404 if the file does
 * not exist, 413 if it is larger than the limit, 400 for content errors
 * (message "path:LINE:COL: ..."), 500 for I/O or arena exhaustion.
 */
struct conf_doc *conf_load_file(const char *path, struct bw_arena *arena,
				struct bw_err *err) BW_WUR;

/*
 * conf_load_string — parse YAML from memory.
 *  name:  used as FILE in messages (copied; NULL means "<string>").
 *  text/len: the input (borrowed; need not be NUL-terminated).
 * Otherwise as conf_load_file.
 */
struct conf_doc *conf_load_string(const char *name, const char *text,
				  size_t len, struct bw_arena *arena,
				  struct bw_err *err) BW_WUR;

/* conf_load_string with explicit limits (NULL: defaults). */
struct conf_doc *conf_load_string_lim(const char *name, const char *text,
				      size_t len, const struct conf_limits *lim,
				      struct bw_arena *arena,
				      struct bw_err *err) BW_WUR;

/* ------------------------------------------------------------- messages */

/*
 * conf_err — report an error about node in the standard shape
 * "FILE:LINE:COLUMN: key.path: <printf(fmt, ...)>" with code 400, module
 * "conf" and the given reason token. For checks the binder cannot express
 * (e.g. "tls.cert requires tls.key"). Always returns -1.
 */
int conf_err(const struct conf_node *node, struct bw_err *err,
	     const char *reason, const char *fmt, ...) BW_PRINTF(4, 5);

/* Like conf_err but points at the node's key (for unknown-key style
 * messages); falls back to the node's own position if it has no key. */
int conf_err_key(const struct conf_node *node, struct bw_err *err,
		 const char *reason, const char *fmt, ...) BW_PRINTF(4, 5);

/*
 * conf_node_path — write the node's key path ("server.workers",
 * "listeners[1].port", "" for the root) into out (cap bytes, NUL-
 * terminated, truncated with "..." if too long). Returns out.
 */
char *conf_node_path(const struct conf_node *node, char *out, size_t cap);

/* Human name of a node kind/state for messages: "mapping", "sequence",
 * "null", "quoted string", "scalar". */
const char *conf_node_describe(const struct conf_node *node);

/* --------------------------------------------------------------- lookup */

/* The value of key in mapping map, or NULL if map is NULL, not a mapping,
 * or has no such key. O(log n). Borrowed pointer into the tree. */
const struct conf_node *conf_get(const struct conf_node *map, const char *key);

/* Fail with a "must be a mapping/sequence/scalar" error unless node has
 * that kind. Returns 0 or -1. */
int conf_expect(const struct conf_node *node, enum conf_kind kind,
		struct bw_err *err) BW_WUR;

/* Number of items of a sequence or mapping (0 for scalars and NULL), and
 * the i-th item (NULL when out of range). Iterate a sequence with
 *     for (size_t i = 0; i < conf_len(seq); i++) use(conf_at(seq, i));  */
size_t conf_len(const struct conf_node *node);
const struct conf_node *conf_at(const struct conf_node *node, size_t i);

/*
 * conf_check_keys — reject any key of map not in allowed (a NULL-
 * terminated list). The error points at the offending key and suggests
 * the closest allowed key when one is close: "unknown key 'wrkers' (did
 * you mean 'workers'?)". Also fails if map is not a mapping.
 */
int conf_check_keys(const struct conf_node *map, const char *const *allowed,
		    struct bw_err *err) BW_WUR;

/* ------------------------------------------------------ value converters */

/*
 * conf_as_* — interpret one node. All return 0, or -1 with a positioned
 * message in err (reason "type" for the wrong kind of value, "range" for
 * a value out of [min, max], "enum" for a value not in the list). OUT
 * parameters are written only on success. Strings returned point into the
 * tree (arena memory, NUL-terminated).
 *
 *  str:      any non-null scalar (plain 123 is the string "123").
 *  bool:     plain true or false only.
 *  int:      plain decimal integer, optional '-', no leading zeros (0640
 *            is ambiguous octal and refused), within [min, max].
 *  uint64:   plain decimal without sign, within [min, max].
 *  size:     bytes: plain integer with optional suffix k/m/g/t (powers of
 *            1024, case-insensitive, also KiB/MiB/GiB/TiB), e.g. 16k, 1m.
 *  duration: plain integer with unit ms, s, m, h or d, or several in a row
 *            ("1h30m"); bare 0 is allowed; result in milliseconds.
 *  enum:     a scalar equal to one of values (NULL-terminated); *index is
 *            its position. Unknown values get a "did you mean" and the list.
 *  port:     integer 0..65535.
 *  path:     non-empty string shorter than CONF_PATH_MAX, no NUL.
 */
int conf_as_str(const struct conf_node *n, const char **out,
		struct bw_err *err) BW_WUR;
int conf_as_bool(const struct conf_node *n, bool *out,
		 struct bw_err *err) BW_WUR;
int conf_as_int(const struct conf_node *n, int64_t min, int64_t max,
		int64_t *out, struct bw_err *err) BW_WUR;
int conf_as_uint64(const struct conf_node *n, uint64_t min, uint64_t max,
		   uint64_t *out, struct bw_err *err) BW_WUR;
int conf_as_size(const struct conf_node *n, uint64_t min, uint64_t max,
		 uint64_t *out, struct bw_err *err) BW_WUR;
int conf_as_duration(const struct conf_node *n, uint64_t min_ms,
		     uint64_t max_ms, uint64_t *out_ms,
		     struct bw_err *err) BW_WUR;
int conf_as_enum(const struct conf_node *n, const char *const *values,
		 int *index, struct bw_err *err) BW_WUR;
int conf_as_port(const struct conf_node *n, uint16_t *out,
		 struct bw_err *err) BW_WUR;
int conf_as_path(const struct conf_node *n, const char **out,
		 struct bw_err *err) BW_WUR;

/* Pure text parsers behind conf_as_size/_duration, for callers that have a
 * string rather than a node (e.g. a CLI flag). 0 or -1 (no err detail). */
int conf_parse_size(const char *s, size_t len, uint64_t *out) BW_WUR;
int conf_parse_duration(const char *s, size_t len, uint64_t *out_ms) BW_WUR;

/* ------------------------------------------------ getters on a mapping */

/*
 * conf_get_* (required): look key up in map and convert it; a missing key
 * (or a null value) fails with reason "missing" pointing at the mapping:
 * "FILE:L:C: server: missing required key 'port'".
 * conf_opt_* (optional): a missing key or null value yields def; a present
 * value is converted and checked exactly as in conf_get_*.
 * Both fail with "must be a mapping" if map is not a mapping.
 */
int conf_get_str(const struct conf_node *map, const char *key, const char **out,
		 struct bw_err *err) BW_WUR;
int conf_opt_str(const struct conf_node *map, const char *key, const char *def,
		 const char **out, struct bw_err *err) BW_WUR;
int conf_get_bool(const struct conf_node *map, const char *key, bool *out,
		  struct bw_err *err) BW_WUR;
int conf_opt_bool(const struct conf_node *map, const char *key, bool def,
		  bool *out, struct bw_err *err) BW_WUR;
int conf_get_int(const struct conf_node *map, const char *key, int64_t min,
		 int64_t max, int64_t *out, struct bw_err *err) BW_WUR;
int conf_opt_int(const struct conf_node *map, const char *key, int64_t def,
		 int64_t min, int64_t max, int64_t *out,
		 struct bw_err *err) BW_WUR;
int conf_get_uint64(const struct conf_node *map, const char *key, uint64_t min,
		    uint64_t max, uint64_t *out, struct bw_err *err) BW_WUR;
int conf_opt_uint64(const struct conf_node *map, const char *key, uint64_t def,
		    uint64_t min, uint64_t max, uint64_t *out,
		    struct bw_err *err) BW_WUR;
int conf_get_size(const struct conf_node *map, const char *key, uint64_t min,
		  uint64_t max, uint64_t *out, struct bw_err *err) BW_WUR;
int conf_opt_size(const struct conf_node *map, const char *key, uint64_t def,
		  uint64_t min, uint64_t max, uint64_t *out,
		  struct bw_err *err) BW_WUR;
int conf_get_duration(const struct conf_node *map, const char *key,
		      uint64_t min_ms, uint64_t max_ms, uint64_t *out_ms,
		      struct bw_err *err) BW_WUR;
int conf_opt_duration(const struct conf_node *map, const char *key,
		      uint64_t def_ms, uint64_t min_ms, uint64_t max_ms,
		      uint64_t *out_ms, struct bw_err *err) BW_WUR;
int conf_get_enum(const struct conf_node *map, const char *key,
		  const char *const *values, int *index,
		  struct bw_err *err) BW_WUR;
int conf_opt_enum(const struct conf_node *map, const char *key,
		  const char *const *values, int def, int *index,
		  struct bw_err *err) BW_WUR;
int conf_get_port(const struct conf_node *map, const char *key, uint16_t *out,
		  struct bw_err *err) BW_WUR;
int conf_opt_port(const struct conf_node *map, const char *key, uint16_t def,
		  uint16_t *out, struct bw_err *err) BW_WUR;
int conf_get_path(const struct conf_node *map, const char *key,
		  const char **out, struct bw_err *err) BW_WUR;
int conf_opt_path(const struct conf_node *map, const char *key, const char *def,
		  const char **out, struct bw_err *err) BW_WUR;

/* ------------------------------------------------------------- secrets */

/*
 * conf_check_secret_file — refuse a key or secret file that is not safe
 * to trust: not a regular file (after following symlinks), readable or
 * writable by group or others (mode & 077), or owned by someone other
 * than root or the current user. The message says what to do:
 * "/etc/bulwark/ca.key: group or others can access it (mode 0644); run
 * chmod 600 on it". Opens the file read-only (non-blocking, so a FIFO
 * cannot hang the load) and checks with fstat, so what is checked is what
 * was opened. Returns 0 or -1 with err (reason "secret_file"; code 404 if
 * missing).
 */
int conf_check_secret_file(const char *path, struct bw_err *err) BW_WUR;

/* -------------------------------------------------------------- binding */

/*
 * The binder fills a module's config struct from a mapping described by a
 * table of struct conf_field. For each field: find the key, convert and
 * range-check it, store it at target + offset; a missing key (or null
 * value) takes the default text, which is parsed by the same rules as the
 * file (so "30s" or "16k" are valid defaults); a missing required key is
 * an error; finally unknown keys are rejected with a suggestion.
 *
 * Field types and the C type they store (checked at compile time by the
 * CONF_* offset macros below):
 *   CONF_T_STR        const char *   (NULL if absent with no default)
 *   CONF_T_BOOL       bool
 *   CONF_T_INT        int            (min/max; 0,0 = INT_MIN..INT_MAX)
 *   CONF_T_INT64      int64_t        (min/max; 0,0 = full range)
 *   CONF_T_UINT       unsigned       (min/max; 0,0 = 0..UINT_MAX)
 *   CONF_T_UINT64     uint64_t       (min/max; 0,0 = 0..INT64_MAX)
 *   CONF_T_SIZE       size_t         (bytes with k/m/g/t suffixes)
 *   CONF_T_DURATION   uint64_t       (milliseconds; 500ms, 30s, 5m, 1h, 7d)
 *   CONF_T_ENUM       int            (index into .values)
 *   CONF_T_PORT       uint16_t       (0..65535, or min/max)
 *   CONF_T_PATH       const char *
 *   CONF_T_SECRET_PATH const char *  (a path that passes
 *                                     conf_check_secret_file at bind time)
 *   CONF_T_STRLIST    struct conf_strlist (a sequence of strings)
 *   CONF_T_SECTION    an embedded struct, bound with .sub/.nsub. A
 *                     section given empty ("tls:" or "tls: {}") gets its
 *                     defaults and must have its required keys; an absent
 *                     optional section gets its defaults but its required
 *                     keys are not demanded (they stay zeroed/NULL, which
 *                     is how the module tells it was not configured)
 *   CONF_T_LIST       struct conf_list: a sequence of mappings, each bound
 *                     with .sub/.nsub into an array of .elem_size elements
 *                     allocated from the doc's arena
 *   CONF_T_NODE       const struct conf_node * (raw, for hand parsing;
 *                     NULL if absent)
 *   CONF_T_CUSTOM     .parse(node, target + offset, err) is called with
 *                     the value (or the default's stand-in node); if absent
 *                     with no default it is not called and the member is
 *                     left untouched
 *
 * A null value ("key: ~" or "key:") counts as absent for every type but
 * CONF_T_SECTION. Lists (CONF_T_STRLIST/_LIST) take no default.
 *
 * min/max: for integer types, the inclusive range; both 0 means the type's
 * full range (CONF_T_UINT64: 0..INT64_MAX; CONF_T_PORT: 0..65535). For
 * CONF_T_STR/_PATH, max > 0 bounds the length in bytes and min > 0 demands at
 * least min bytes. For CONF_T_STRLIST/_LIST, they bound the number of items.
 * Take the numbers from the module's limits header.
 */
enum conf_type {
	CONF_T_STR = 1,
	CONF_T_BOOL,
	CONF_T_INT,
	CONF_T_INT64,
	CONF_T_UINT,
	CONF_T_UINT64,
	CONF_T_SIZE,
	CONF_T_DURATION,
	CONF_T_ENUM,
	CONF_T_PORT,
	CONF_T_PATH,
	CONF_T_SECRET_PATH,
	CONF_T_STRLIST,
	CONF_T_SECTION,
	CONF_T_LIST,
	CONF_T_NODE,
	CONF_T_CUSTOM,
};

struct conf_strlist {
	const char **v; /* arena array of n NUL-terminated strings */
	size_t n;
};

struct conf_list {
	void *v; /* arena array of n elements of the field's elem_size */
	size_t n;
};

struct conf_field {
	const char *name; /* the YAML key */
	enum conf_type type;
	size_t offset;		      /* offsetof(target struct, member) */
	int64_t min, max;	      /* see above */
	bool required;		      /* missing key is an error (no default) */
	const char *def;	      /* default as YAML scalar text, or NULL */
	const char *const *values;    /* CONF_T_ENUM: NULL-terminated */
	const struct conf_field *sub; /* CONF_T_SECTION / CONF_T_LIST */
	size_t nsub;
	size_t elem_size; /* CONF_T_LIST: sizeof one element */
	int (*parse)(const struct conf_node *value, void *dst,
		     struct bw_err *err); /* CONF_T_CUSTOM */
	const char *help; /* one line for docs and `config check -v` */
};

/*
 * Table helpers: each expands to ".type = ..., .offset = ..." and fails to
 * compile if the member's C type does not match the field type. These are
 * macros because they must work inside static initializers.
 * Use: { .name = "workers", CONF_INT(struct srv_conf, workers), .min = 1,
 *        .max = SRV_WORKERS_MAX, .def = "4", .help = "worker threads" },
 */
#define CONF__OFF(T, m, ctype)                                                 \
	(offsetof(T, m) +                                                      \
	 0 * sizeof(char[_Generic(((T *)0)->m, ctype : 1, default              \
				  : -1)]))
#define CONF_STR(T, m)                                                         \
	.type = CONF_T_STR, .offset = CONF__OFF(T, m, const char *)
#define CONF_BOOL(T, m) .type = CONF_T_BOOL, .offset = CONF__OFF(T, m, bool)
#define CONF_INT(T, m) .type = CONF_T_INT, .offset = CONF__OFF(T, m, int)
#define CONF_INT64(T, m)                                                       \
	.type = CONF_T_INT64, .offset = CONF__OFF(T, m, int64_t)
#define CONF_UINT(T, m) .type = CONF_T_UINT, .offset = CONF__OFF(T, m, unsigned)
#define CONF_UINT64(T, m)                                                      \
	.type = CONF_T_UINT64, .offset = CONF__OFF(T, m, uint64_t)
#define CONF_SIZE(T, m) .type = CONF_T_SIZE, .offset = CONF__OFF(T, m, size_t)
#define CONF_DURATION(T, m)                                                    \
	.type = CONF_T_DURATION, .offset = CONF__OFF(T, m, uint64_t)
#define CONF_ENUM(T, m, vals)                                                  \
	.type = CONF_T_ENUM, .offset = CONF__OFF(T, m, int), .values = (vals)
#define CONF_PORT(T, m) .type = CONF_T_PORT, .offset = CONF__OFF(T, m, uint16_t)
#define CONF_PATH(T, m)                                                        \
	.type = CONF_T_PATH, .offset = CONF__OFF(T, m, const char *)
#define CONF_SECRET_PATH(T, m)                                                 \
	.type = CONF_T_SECRET_PATH, .offset = CONF__OFF(T, m, const char *)
#define CONF_STRLIST(T, m)                                                     \
	.type = CONF_T_STRLIST, .offset = CONF__OFF(T, m, struct conf_strlist)
#define CONF_SECTION(T, m, fields)                                             \
	.type = CONF_T_SECTION, .offset = offsetof(T, m), .sub = (fields),     \
	.nsub = BW_ARRAY_LEN(fields)
#define CONF_LIST(T, m, fields, elemtype)                                      \
	.type = CONF_T_LIST, .offset = CONF__OFF(T, m, struct conf_list),      \
	.sub = (fields), .nsub = BW_ARRAY_LEN(fields),                         \
	.elem_size = sizeof(elemtype)
#define CONF_NODE(T, m)                                                        \
	.type = CONF_T_NODE, .offset = CONF__OFF(T, m, const struct conf_node *)
#define CONF_CUSTOM(T, m, fn)                                                  \
	.type = CONF_T_CUSTOM, .offset = offsetof(T, m), .parse = (fn)

/*
 * conf_bind — fill target from mapping map as described by fields[0..n).
 *  map:    the section; NULL or a null scalar binds as an empty mapping
 *          (every field takes its default, required ones are missing),
 *          anything else that is not a mapping is an error.
 *  fields: the table (borrowed); n its length (BW_ARRAY_LEN).
 *  target: the struct to fill (borrowed); fields without a value and
 *          without a default are zeroed (NULL, 0, false), CUSTOM ones are
 *          left alone. Strings and lists point into the document's arena.
 * Unknown keys are checked first (a typo is the likelier cause of a
 * "missing" key), then fields in table order.
 * Stops at the first error (missing required key, bad value, unknown key)
 * and returns -1 with the positioned message; target may then be partly
 * filled and must not be used. A bad default is a programming error and
 * is reported as reason "internal" naming the field.
 */
int conf_bind(const struct conf_node *map, const struct conf_field *fields,
	      size_t n, void *target, struct bw_err *err) BW_WUR;

#endif
