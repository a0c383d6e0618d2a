/*
 * authz_int.h — internals shared by the authz module's files. No other
 * module includes this.
 *
 * Model representation: a struct authz_model is built by the DSL or JSON
 * reader into its own arena, validated once (authz_model_validate) and is
 * immutable afterwards; every string and node lives in model->arena. When a
 * model is attached to a store its type and relation names are bound to the
 * store's symbol table (the `sym` fields and the lookup tables), also once,
 * before any reader can see it.
 */
#ifndef BW_AUTHZ_INT_H
#define BW_AUTHZ_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "authz/authz.h"
#include "authz/authz_cel.h"
#include "authz/authz_limits.h"

/* ---------------------------------------------------------------- model */

enum authz_rw_kind {
	AUTHZ_RW_THIS,     /* direct relationship: tuples of this relation */
	AUTHZ_RW_COMPUTED, /* another relation of the same object */
	AUTHZ_RW_TTU,      /* `rel from tupleset` */
	AUTHZ_RW_UNION,
	AUTHZ_RW_INTER,
	AUTHZ_RW_DIFF,     /* child[0] but not child[1] */
};

struct authz_rw {
	enum authz_rw_kind kind;
	const char *rel;      /* COMPUTED: the relation; TTU: the computed one */
	const char *tupleset; /* TTU */
	uint32_t line, col;   /* DSL position (0 when from JSON) */
	struct authz_rw **child;
	size_t n;
	/* resolved by validation */
	int rel_idx;          /* COMPUTED: index in the same type */
	int ts_idx;           /* TTU: the tupleset relation's index */
	uint32_t rel_sym;     /* TTU: symbol of `rel` (bound to a store) */
};

/* One entry of a relation's direct type restrictions. */
struct authz_restr {
	const char *type;
	const char *rel;  /* "group#member": "member"; NULL otherwise */
	bool wildcard;    /* "user:*" */
	const char *cond; /* "with cond"; NULL when none */
	uint32_t line, col;
	int type_idx, rel_idx, cond_idx;
	uint32_t type_sym, rel_sym;
};

struct authz_rel {
	const char *name;
	uint32_t line, col;
	struct authz_rw *rw;
	struct authz_restr *dt;
	size_t ndt;
	int type_idx, idx;
	uint32_t sym;
	bool entry; /* validation: has an entrypoint */
};

struct authz_type {
	const char *name;
	uint32_t line, col;
	struct authz_rel *rels;
	size_t nrels;
	uint32_t sym;
	/* bound: open-addressed rel sym -> index+1 */
	uint32_t *rmap;
	uint32_t rmap_mask;
};

struct authz_cparam {
	const char *name;
	struct cel_ptype type;
};

struct authz_cond {
	const char *name;
	const char *expr;
	size_t exprlen;
	struct authz_cparam *params;
	size_t nparams;
	struct cel_prog *prog;
	uint32_t line, col;           /* of the name */
	uint32_t expr_line, expr_col; /* of the expression's first byte */
	uint32_t sym;
};

struct authz_model {
	struct bw_arena *arena;
	char id[AUTHZ_ID_LEN + 1];
	int64_t created_ns;
	bool from_dsl; /* positions are DSL line:column */
	struct authz_type *types;
	size_t ntypes;
	struct authz_cond *conds;
	size_t nconds;
	/* bound: open-addressed type sym -> index+1 */
	uint32_t *tmap;
	uint32_t tmap_mask;
	/* list-objects reverse edges, built at bind time */
	struct authz_redges *redges;
};

/* Builders used by the readers (allocate from m->arena; NULL on OOM). */
struct authz_model *authz_model_alloc(void);
struct authz_rw *authz_rw_new(struct authz_model *m, enum authz_rw_kind k);
char *authz_model_strdup(struct authz_model *m, const char *s, size_t n);

/* Checks everything a model must satisfy (names, references, type
 * restrictions, tuplesets, entrypoints, conditions). err messages start
 * with "LINE:COL: " for DSL models. Returns 0 or -1 (400, "invalid_model"). */
int authz_model_validate(struct authz_model *m, struct bw_err *err) BW_WUR;

/* Lookups by name (validation and writes); NULL when absent. */
const struct authz_type *authz_model_type(const struct authz_model *m,
					  const char *name, size_t len);
const struct authz_rel *authz_type_rel(const struct authz_type *t,
				       const char *name, size_t len);
int authz_model_cond_idx(const struct authz_model *m, const char *name, size_t len);

/* Name syntax shared with tuple validation. */
bool authz_valid_type_name(const char *s, size_t len);
bool authz_valid_rel_name(const char *s, size_t len);

/* -------------------------------------------------------------- helpers */

/* A 26-character ULID (Crockford base32, ms time + 80 random bits) for
 * store and model ids, as OpenFGA uses. out holds AUTHZ_ID_LEN + 1. */
void authz_ulid(int64_t now_ns, char out[AUTHZ_ID_LEN + 1]);
bool authz_valid_ulid(const char *s);

#endif
