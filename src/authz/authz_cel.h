/*
 * authz_cel.h — internal interface of the CEL subset used by OpenFGA
 * conditions (authz_cel.c). Not part of the module's public header: other
 * modules reach conditions only through models and checks.
 *
 * A condition is compiled once, when its model is loaded, against its
 * declared parameters (so an undeclared name is a model error, not a
 * runtime surprise), and evaluated per tuple with the merged request and
 * tuple context. Evaluation is total: every input produces TRUE, FALSE,
 * MISSING (a parameter the expression needed was not supplied) or ERROR
 * (a type error, overflow, division by zero, step budget), never a crash.
 */
#ifndef BW_AUTHZ_CEL_H
#define BW_AUTHZ_CEL_H

#include "core/core.h"
#include "json/json.h"

enum cel_type {
	CEL_T_ANY = 0, /* parameter type "any" / unknown static type */
	CEL_T_NULL,
	CEL_T_BOOL,
	CEL_T_INT,
	CEL_T_UINT,
	CEL_T_DOUBLE,
	CEL_T_STRING,
	CEL_T_LIST,
	CEL_T_MAP,
	CEL_T_TIMESTAMP,
	CEL_T_DURATION,
	CEL_T_IPADDR,
	CEL_T_UNKNOWN, /* runtime: a missing parameter */
	CEL_T_ERROR,   /* runtime: an evaluation error */
};

/* A declared parameter type: elem is the element type of list<T>/map<T>. */
struct cel_ptype {
	enum cel_type t;
	enum cel_type elem;
};

struct cel_value;
struct cel_kv;

/* A runtime value. Strings are (p, len) views into arena or model memory;
 * maps have string keys only (JSON objects). */
struct cel_value {
	enum cel_type t;
	union {
		bool b;
		int64_t i;
		uint64_t u;
		double d;
		struct {
			const char *p;
			size_t len;
		} s;
		struct {
			struct cel_value *items;
			size_t n;
		} list;
		struct {
			struct cel_kv *kv;
			size_t n;
		} map;
		struct {
			int64_t sec; /* seconds since the epoch */
			int32_t nsec;
		} ts;
		int64_t dur; /* nanoseconds */
		struct {
			uint8_t a[16];
			uint8_t v6; /* 0: IPv4 in a[0..3] */
		} ip;
		const char *msg; /* CEL_T_ERROR */
	} u;
};

struct cel_kv {
	struct bw_str key;
	struct cel_value val;
};

struct cel_param {
	const char *name; /* NUL-terminated, borrowed for compile only */
	struct cel_ptype type;
};

struct cel_prog;

/*
 * Compiles expr (len bytes) against params. The program lives in arena a
 * (borrowed; it must outlive the program). On error returns NULL and fills
 * err (400, reason "cel") with a message "column N: ..." where N is the
 * 1-based byte column in the expression; *err_off (may be NULL) receives the
 * 0-based offset.
 */
struct cel_prog *authz_cel_compile(struct bw_arena *a, const char *expr,
				   size_t len, const struct cel_param *params,
				   size_t nparams, size_t *err_off,
				   struct bw_err *err) BW_WUR;

enum cel_result { CEL_FALSE = 0, CEL_TRUE, CEL_MISSING, CEL_ERROR };

/*
 * Evaluates p. args[i] is parameter i's value (t == CEL_T_UNKNOWN when the
 * context did not supply it). Scratch values are allocated from a.
 * On CEL_MISSING/CEL_ERROR a short reason is written to msg (msgcap bytes,
 * may be 0).
 */
enum cel_result authz_cel_eval(const struct cel_prog *p,
			       const struct cel_value *args, struct bw_arena *a,
			       char *msg, size_t msgcap);

/* Number of parameters the program was compiled with. */
size_t authz_cel_nparams(const struct cel_prog *p);

/*
 * Converts a JSON context value to a typed CEL value for a parameter of type
 * t (timestamps and durations and IP addresses arrive as strings, as in
 * OpenFGA). Returns 0, or -1 with err (400, "bad_context").
 */
int authz_cel_from_json(struct bw_arena *a, const struct json_value *v,
			struct cel_ptype t, struct cel_value *out,
			struct bw_err *err) BW_WUR;

/* DSL type names: "string", "int", "list<string>", ... Returns 0 or -1. */
int authz_cel_ptype_parse(const char *s, size_t len, struct cel_ptype *out) BW_WUR;
/* Writes the DSL spelling of t into out (cap bytes). */
void authz_cel_ptype_name(struct cel_ptype t, char *out, size_t cap);
/* JSON (protobuf enum) names: "TYPE_NAME_STRING" <-> CEL_T_STRING. */
const char *authz_cel_type_json_name(enum cel_type t);
int authz_cel_type_from_json_name(const char *s, enum cel_type *out) BW_WUR;

/* Parsers shared with tests: RFC 3339 timestamps and Go-style durations
 * ("1h30m", "-1.5s", "300ms"). Return 0 or -1. */
int authz_cel_parse_timestamp(const char *s, size_t len, int64_t *sec,
			      int32_t *nsec) BW_WUR;
int authz_cel_parse_duration(const char *s, size_t len, int64_t *ns) BW_WUR;

#endif
