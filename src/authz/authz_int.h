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


/* -------------------------------------------------------------- symbols */

/*
 * Every string a store's tuples use (objects "type:id", users, usersets'
 * relations, type and relation names) is interned once as a 32-bit symbol,
 * so the indexes compare integers. Symbols are never freed while the store
 * lives. Symbol 0 means "none"; symbols with the top bit set are
 * request-local (strings a query mentions that no stored tuple has).
 */
#define AUTHZ_SYM_LOCAL 0x80000000u

struct authz_sym {
	const char *s;
	uint32_t len;
	uint32_t type; /* for "type:id": the symbol of "type"; else 0 */
	uint32_t hash;
	bool wildcard; /* "type:*" */
};

struct authz_symtab {
	struct authz_sym *syms; /* syms[0] unused */
	uint32_t n, cap;
	uint32_t *ht; /* open addressing, symbol ids, 0 empty */
	uint32_t ht_mask;
	char *chunk; /* string storage: chunks chained through their first bytes */
	size_t chunk_used, chunk_cap;
	size_t bytes;
};

int authz_symtab_init(struct authz_symtab *t) BW_WUR;
void authz_symtab_fini(struct authz_symtab *t);
uint32_t authz_sym_hash(const char *s, size_t len);
/* 0 when absent. */
uint32_t authz_sym_find(const struct authz_symtab *t, const char *s, size_t len);
/* Interns (the type part of "type:id" too). 0 only when memory runs out. */
uint32_t authz_sym_intern(struct authz_symtab *t, const char *s, size_t len);

/* ------------------------------------------------------------ hash maps */

/* 128-bit keys to nonzero 32-bit values; linear probing with backward-
 * shift deletion, so no tombstones accumulate under churn. */
struct authz_hmap {
	uint64_t *ka, *kb;
	uint32_t *v; /* 0: empty */
	size_t cap, n; /* cap a power of two (or 0) */
};

void authz_hmap_fini(struct authz_hmap *m);
uint32_t authz_hmap_get(const struct authz_hmap *m, uint64_t a, uint64_t b);
int authz_hmap_put(struct authz_hmap *m, uint64_t a, uint64_t b, uint32_t v) BW_WUR;
void authz_hmap_del(struct authz_hmap *m, uint64_t a, uint64_t b);

/* --------------------------------------------------------------- tuples */

/* A stored tuple as symbols. cond indexes the store's condition table
 * (0: no condition). */
struct authz_tup {
	uint32_t obj, rel, uobj, urel, cond;
	uint32_t live; /* 0 on the free list */
	int64_t time_ns;
};

/* A distinct (condition name, context) pair shared by tuples. */
struct authz_tcond {
	uint32_t name;         /* symbol of the condition name */
	char *ctx_text;        /* JSON object text or NULL */
	size_t ctx_len;
	struct json_value *ctx; /* parsed, in arena */
	struct bw_arena *arena;
};

struct authz_vec {
	uint32_t *v;
	uint32_t n, cap;
};

struct authz_tupset {
	struct authz_tup *t;
	uint32_t n, cap, free_head; /* free list through .obj */
	uint32_t live;
	struct authz_hmap exact; /* (obj,rel),(uobj,urel) -> index+1 */
	struct authz_hmap by_obj; /* (obj,rel),(userset?) -> vec+1 */
	struct authz_hmap by_user; /* (uobj,urel),(rel,objtype) -> vec+1 */
	struct authz_vec *vecs;
	uint32_t nvecs, capvecs, free_vec;
	struct authz_tcond *conds; /* conds[0] unused */
	uint32_t nconds, capconds;
	struct authz_hmap cond_ix; /* (name, hash(ctx)) -> cond index */
};

int authz_tupset_init(struct authz_tupset *ts) BW_WUR;
void authz_tupset_fini(struct authz_tupset *ts);
/* Adds a tuple (symbols interned, cond from authz_tupset_cond). Returns the
 * index, or -1 when memory runs out. An existing tuple is replaced. */
int authz_tupset_add(struct authz_tupset *ts, const struct authz_symtab *st,
		     uint32_t obj, uint32_t rel, uint32_t uobj, uint32_t urel,
		     uint32_t cond, int64_t time_ns);
/* Removes a tuple if present. */
void authz_tupset_del(struct authz_tupset *ts, const struct authz_symtab *st,
		      uint32_t obj, uint32_t rel, uint32_t uobj, uint32_t urel);
/* The condition entry for (name symbol, context text) — created when new.
 * Returns its index (>0) or 0 on failure (memory, bad JSON). */
uint32_t authz_tupset_cond(struct authz_tupset *ts, uint32_t name, const char *ctx,
			   size_t ctx_len);
/* The vector behind an index value (NULL for 0). */
static inline const struct authz_vec *authz_tupset_vec(const struct authz_tupset *ts,
							 uint32_t v)
{
	return v ? &ts->vecs[v - 1] : NULL;
}
/* Keys of the two multi-indexes. */
static inline uint64_t authz_k2(uint32_t hi, uint32_t lo)
{
	return (uint64_t)hi << 32 | lo;
}


/* --------------------------------------------------------------- stores */

/*
 * One OpenFGA store. `lock` guards syms, ts and models: queries hold it
 * shared for their whole evaluation; applying a committed write or adding
 * a model holds it exclusively. Models are immutable once added; the
 * newest is models[nmodels - 1] (ids are time-ordered ULIDs).
 */
struct authz_fstore {
	char id[AUTHZ_ID_LEN + 1];
	char tenant[AUTHZ_TENANT_MAX + 1];
	char name[AUTHZ_STORE_NAME_BUF];
	int64_t created_ns, updated_ns;
	pthread_rwlock_t lock;
	struct authz_symtab syms;
	struct authz_tupset ts;
	struct authz_model **models;
	size_t nmodels, capmodels;
	char model_hwm[AUTHZ_ID_LEN + 1]; /* highest model id handed out */
	_Atomic uint64_t revision; /* last committed write, bumped on apply */
	uint32_t tag;              /* distinct per store instance (cache keys) */
};

struct authz_cache;

struct authz_engine {
	struct authz_options o;
	struct store *db;
	pthread_rwlock_t lock; /* the stores table (not their contents) */
	struct authz_fstore **stores;
	size_t nstores, capstores;
	uint32_t next_tag;
	struct authz_cache *cache;
	_Atomic uint64_t n_checks, n_hits, n_misses, n_writes;
};

/* Finds a tenant's store and takes its lock (shared unless excl). The
 * engine's table lock stays held shared until release, so the store
 * cannot be deleted underneath. NULL with 404 when absent. */
struct authz_fstore *authz_store_acquire(struct authz_engine *e, const char *tenant,
					 const char *id, bool excl, struct bw_err *err);
void authz_store_release(struct authz_engine *e, struct authz_fstore *s, bool excl);
/* The model by id (NULL/"": newest) or NULL with 404 / "no_model". */
const struct authz_model *authz_store_model(const struct authz_fstore *s, const char *id,
					    struct bw_err *err);
/* Binds a validated model to a store's symbols and builds its lookup
 * tables and reverse edges (store lock held exclusively). */
int authz_model_bind(struct authz_model *m, struct authz_symtab *st) BW_WUR;

static inline const struct authz_type *authz_type_by_sym(const struct authz_model *m,
							  uint32_t sym)
{
	if (!m->tmap)
		return NULL;
	for (uint32_t i = (sym * 0x9e3779b1u) & m->tmap_mask;; i = (i + 1) & m->tmap_mask) {
		uint32_t v = m->tmap[i];
		if (!v)
			return NULL;
		if (m->types[v - 1].sym == sym)
			return &m->types[v - 1];
	}
}

static inline const struct authz_rel *authz_rel_by_sym(const struct authz_type *t, uint32_t sym)
{
	if (!t->rmap)
		return NULL;
	for (uint32_t i = (sym * 0x9e3779b1u) & t->rmap_mask;; i = (i + 1) & t->rmap_mask) {
		uint32_t v = t->rmap[i];
		if (!v)
			return NULL;
		if (t->rels[v - 1].sym == sym)
			return &t->rels[v - 1];
	}
}

/* Tuple string syntax (OpenFGA's rules, see authz_eval.c). Return true when
 * s is valid; out-parameters split it. */
bool authz_parse_object(const char *s, size_t len, size_t *colon);
bool authz_parse_user(const char *s, size_t len, size_t *colon, size_t *hash, bool *wildcard);

/* Validates one tuple for writing (or as a contextual tuple) against model
 * m: syntax, types, relation, type restrictions, condition and context.
 * Messages follow OpenFGA's validation errors. 0 or -1 (400). */
int authz_tuple_validate(const struct authz_model *m, const struct authz_tuple *t,
			 struct bw_err *err) BW_WUR;


/* -------------------------------------------------------------- queries */

/* Results of evaluation steps; AUTHZ_R_TAINT marks a result that depended
 * on a cycle being cut (not memoised). */
#define AUTHZ_R_FALSE 0
#define AUTHZ_R_TRUE 1
#define AUTHZ_R_ERR 2
#define AUTHZ_R_TAINT 4

struct authz_qsym {
	const char *s;
	uint32_t len, type;
	bool wildcard;
};

/* A contextual tuple, as symbols (global or request-local). */
struct authz_ctup {
	uint32_t obj, rel, uobj, urel;
	uint32_t cond; /* condition name symbol, 0: none */
	const struct json_value *ctx;
};

/*
 * One query's state: the store (lock held shared), the model, the request
 * arena, request-local symbols, contextual tuples, the check memo (the user
 * is fixed for a check, so (object, relation) is the key) and limits.
 */
struct authz_q {
	struct authz_engine *e;
	struct authz_fstore *s;
	const struct authz_model *m;
	struct bw_arena *a;
	struct bw_err *err;
	bool failed;
	struct authz_qsym *ls;
	uint32_t nls, capls;
	struct authz_ctup *ct;
	size_t nct;
	const struct json_value *context;
	unsigned max_depth;
	size_t steps, max_steps;
	/* the user a check is about */
	uint32_t uobj, urel, uwild;
	struct authz_hmap memo;
	struct authz_hmap condmemo;
	int64_t deadline_ms; /* 0: none */
};

int authz_q_open(struct authz_q *q, struct authz_engine *e, const struct authz_query *qr,
		 struct bw_err *err) BW_WUR;
void authz_q_close(struct authz_q *q);
/* Symbol of a string: a stored one, or a request-local one (created). 0
 * when memory runs out. */
uint32_t authz_qsym(struct authz_q *q, const char *s, size_t len);
static inline const struct authz_sym *authz_gsym(const struct authz_q *q, uint32_t sym)
{
	return &q->s->syms.syms[sym];
}
uint32_t authz_qsym_type(const struct authz_q *q, uint32_t sym);
bool authz_qsym_wild(const struct authz_q *q, uint32_t sym);
struct bw_str authz_qsym_str(const struct authz_q *q, uint32_t sym);
/* Sets the check's user (after parsing) and resets the memo. */
int authz_q_set_user(struct authz_q *q, uint32_t uobj, uint32_t urel) BW_WUR;
/* Does the check's user have rel (a symbol) on obj? AUTHZ_R_* bits. */
int authz_q_dispatch(struct authz_q *q, uint32_t obj, uint32_t rel, unsigned depth);
/* Is a tuple with this user and condition allowed by rel's restrictions
 * in the query's model? */
bool authz_q_allowed(const struct authz_q *q, const struct authz_rel *rel, uint32_t uobj,
		     uint32_t urel, uint32_t cond);
/* Records the first error of the query; returns AUTHZ_R_ERR. */
int authz_q_fail(struct authz_q *q, int code, const char *reason, const char *fmt, ...)
	BW_PRINTF(4, 5);
/* Parses and resolves "type:id" / "type:*" / "type:id#rel" against the
 * model: OUT syms. Returns 0 or -1 with a 400 error. */
int authz_q_user(struct authz_q *q, const char *user, uint32_t *uobj, uint32_t *urel) BW_WUR;
int authz_q_object(struct authz_q *q, const char *object, const char *relation,
		   uint32_t *obj, const struct authz_type **t,
		   const struct authz_rel **rel) BW_WUR;

/* Reverse edges for list-objects (built by authz_model_bind). */
struct authz_redge {
	uint32_t type_idx, rel_idx, ts_idx;
};
struct authz_redge_list {
	struct authz_redge *e;
	uint32_t n;
};
struct authz_redges {
	uint32_t *off;                  /* per type: first relation slot */
	struct authz_redge_list *comp;  /* per relation slot: computed parents */
	struct authz_redge_list *uset;  /* relations allowing type#rel */
	struct authz_redge_list *ttu;   /* `rel from ts` parents */
	struct authz_redge_list *direct;/* per type: relations allowing type */
	struct authz_redge_list *wild;  /* per type: relations allowing type:* */
};
int authz_redges_build(struct authz_model *m) BW_WUR;

/* The built-in platform model (platform.fga), embedded at build time by
 * embed.cmake into authz_platform_fga.c. NUL-terminated. */
extern const char authz_platform_fga[];

/* The reserved name of every tenant's platform store. The generic
 * (OpenFGA) API neither lists, opens nor creates a store of this name:
 * role grants go only through the role routes, which require
 * authz.role.assign (a security-admin must not grant itself roles by
 * writing tuples). */
#define AUTHZ_PLATFORM_STORE "bulwark-platform"
#define AUTHZ_PLATFORM_TENANT "platform"
#define AUTHZ_PLATFORM_NROLES 18

/*
 * Decodes a role subject taken from a URL path segment: percent-decoding
 * ("group:eng%23member" -> "group:eng#member"), then the shape
 * TYPE:ID or TYPE:ID#RELATION with TYPE and RELATION names
 * ([A-Za-z0-9_.-]) and an ID of printable ASCII without '#', ' ' or ':'
 * (the engine then checks the subject against the model). in[0..n) is
 * untrusted; OUT: out (NUL-terminated, cap bytes, at most
 * AUTHZ_SUBJECT_MAX + 1 useful). Returns the length, or -1 when malformed
 * (bad escape, %00, control bytes, wrong shape) or longer than
 * AUTHZ_SUBJECT_MAX.
 */
int authz_subject_decode(const char *in, size_t n, char *out, size_t cap);

/* Is store_id the tenant's platform store? */
bool authz_platform_store_is(struct authz_engine *e, const char *tenant, const char *store_id);
/* Does the tenant have its platform store yet? */
bool authz_platform_has_store(struct authz_engine *e, const char *tenant);
/* Role i (0..AUTHZ_PLATFORM_NROLES-1) by its public name ("key-admin"). */
const char *authz_platform_role(size_t i);
/* Calls fn(arg, role, permission) for every permission each role holds in
 * the built-in model ("kms.key.use"), roles in table order, permissions in
 * model order. Returns 0, -1 when the model cannot be read or fn returned
 * non-zero. */
int authz_platform_grants(int (*fn)(void *arg, const char *role, const char *perm), void *arg);
/* Calls fn(arg, role, subject) for each direct role grant in the tenant
 * (tuples on tenant:<tenant> in its platform store), at most max of them.
 * A tenant without a platform store has none. Returns 0 or -1 with err. */
int authz_platform_assignments(struct authz_engine *e, const char *tenant, size_t max,
			       int (*fn)(void *arg, const char *role, const char *subject),
			       void *arg, struct bw_err *err);

/* -------------------------------------------------------------- helpers */

/* A 26-character ULID (Crockford base32, ms time + 80 random bits) for
 * store and model ids, as OpenFGA uses. out holds AUTHZ_ID_LEN + 1. */
void authz_ulid(int64_t now_ns, char out[AUTHZ_ID_LEN + 1]);
/* A ULID greater than prev (prev + 1) when out is not already greater:
 * ids handed out in the same millisecond stay ordered. */
void authz_ulid_after(const char *prev, char out[AUTHZ_ID_LEN + 1]);
bool authz_valid_ulid(const char *s);

#endif
