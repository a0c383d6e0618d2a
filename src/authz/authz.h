/*
 * authz — bulwark's relationship-based authorization engine, with the
 * semantics of OpenFGA (Google Zanzibar's model): authorization models
 * written in the OpenFGA modelling language (schema 1.1, DSL or JSON),
 * relationship tuples kept per store, and the queries check, batch check,
 * expand, list-objects and list-users. bulwark's own admin routes are
 * authorised by the same engine through a built-in platform model
 * (authz_platform_check). The OpenFGA-shaped HTTP API is in authz_api.c
 * (authz_api_register) and the CLI in authz_cli.c (authz_cli_main).
 *
 * Model:
 *  - A store belongs to one tenant and holds versioned, immutable models
 *    and a set of tuples. Queries name a model id or use the latest.
 *  - The database (src/store) is the source of truth: every write is
 *    durable before it is acknowledged; the in-memory tuple index is loaded
 *    from it at start and updated, in commit order, as writes commit.
 *  - Queries read the in-memory index under a per-store read lock, so they
 *    run in parallel on every worker thread; writes hold the write lock
 *    only while they apply a committed change to the index.
 *
 * Threads: every function may be called from any thread once the engine
 * exists, except authz_engine_free. Functions that write block until the
 * write is durable: call them from the thread pool or the CLI, never on an
 * event loop.
 *
 * Errors: struct bw_err with module "authz": 400 invalid input (reason
 * "invalid_model", "invalid_tuple", "validation_error", "cel",
 * "bad_context", "missing_context", "resolution_too_complex"), 404
 * ("store_not_found", "model_not_found", "no_model"), 409 ("exists",
 * "not_found_delete"), 413 ("too_large"), 500, 503 (from the store).
 */
#ifndef BW_AUTHZ_H
#define BW_AUTHZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "json/json.h"

struct store;
struct authz_model;
struct authz_engine;

#define AUTHZ_ID_LEN 26 /* ULID */

/* --------------------------------------------------------------- models */

/*
 * Parses a model in the OpenFGA DSL (schema 1.1) from (text, len) and
 * validates it. Returns a model the caller owns (authz_model_free) or NULL
 * with err: 400 "invalid_model" and a message "LINE:COL: what" (1-based),
 * 413 "too_large" past AUTHZ_MODEL_MAX_BYTES.
 */
struct authz_model *authz_model_parse_dsl(const char *text, size_t len,
					  struct bw_err *err) BW_WUR;

/*
 * Parses a model in OpenFGA's JSON form (the body of WriteAuthorizationModel:
 * {"schema_version","type_definitions","conditions"}) and validates it.
 * Returns an owned model or NULL with err (400 "invalid_model", messages
 * naming the type and relation).
 */
struct authz_model *authz_model_parse_json(const char *text, size_t len,
					   struct bw_err *err) BW_WUR;
/* The same from an already parsed JSON value (borrowed). */
struct authz_model *authz_model_from_json(const struct json_value *v,
					  struct bw_err *err) BW_WUR;

/*
 * Writes the model as OpenFGA JSON ({"id"?, "schema_version",
 * "type_definitions", "conditions"}) through w; with_id includes "id".
 */
void authz_model_write_json(const struct authz_model *m, struct json_writer *w,
			    bool with_id);
/* Appends the model in DSL form to out. Returns 0, -1 if out is full. */
int authz_model_write_dsl(const struct authz_model *m, struct bw_buf *out) BW_WUR;

/* The model's id ("" until it is written to a store). */
const char *authz_model_id(const struct authz_model *m);
void authz_model_free(struct authz_model *m); /* accepts NULL */

/* --------------------------------------------------------------- engine */

struct authz_options {
	struct store *store;      /* borrowed; must outlive the engine */
	unsigned resolve_depth;   /* 0: AUTHZ_RESOLVE_DEPTH_DEFAULT (25) */
	unsigned resolve_breadth; /* 0: AUTHZ_RESOLVE_BREADTH_DEFAULT */
	unsigned list_max;        /* 0: AUTHZ_LIST_MAX_DEFAULT (1000) */
	unsigned list_deadline_ms;/* 0: AUTHZ_LIST_DEADLINE_MS_DEFAULT */
	unsigned write_max;       /* 0: AUTHZ_WRITE_MAX_DEFAULT (100) */
	unsigned batch_max;       /* 0: AUTHZ_BATCH_MAX_DEFAULT (50) */
	size_t cache_entries;     /* 0: default; (size_t)-1 disables */
};

/*
 * Creates the engine on opts->store: migrates the authz schema and loads
 * every store, model and tuple into memory. opts is borrowed. Returns the
 * engine or NULL with err (400 bad option, 500 / store errors).
 */
struct authz_engine *authz_engine_new(const struct authz_options *opts,
				      struct bw_err *err) BW_WUR;
/* No call may be in flight. Accepts NULL. */
void authz_engine_free(struct authz_engine *e);

/* ---------------------------------------------------------------- stores */

#define AUTHZ_STORE_NAME_BUF 65
struct authz_store_info {
	char id[AUTHZ_ID_LEN + 1];
	char name[AUTHZ_STORE_NAME_BUF];
	int64_t created_ns, updated_ns;
};

/* Creates a store for tenant. OUT: info. 400 on a bad name. */
int authz_store_create(struct authz_engine *e, const char *tenant,
		       const char *name, struct authz_store_info *info,
		       struct bw_err *err) BW_WUR;
/* 0 and info filled, or -1 with 404 "store_not_found" (also when the store
 * belongs to another tenant: tenants cannot probe each other's ids). */
int authz_store_get(struct authz_engine *e, const char *tenant,
		    const char *id, struct authz_store_info *info,
		    struct bw_err *err) BW_WUR;
/* Deletes the store, its models and tuples. */
int authz_store_delete(struct authz_engine *e, const char *tenant,
		       const char *id, struct bw_err *err) BW_WUR;
/* Lists the tenant's stores ordered by id, after `after` (NULL: from the
 * start), at most max. OUT: out[0..*n). Returns 0 or -1. */
int authz_store_list(struct authz_engine *e, const char *tenant,
		     const char *after, size_t max, struct authz_store_info *out,
		     size_t *n, struct bw_err *err) BW_WUR;

/* ---------------------------------------------------------------- models */

/*
 * Writes model m (ownership passes to the engine, also on failure) as the
 * store's newest model. OUT: id (AUTHZ_ID_LEN + 1 bytes).
 */
int authz_model_write(struct authz_engine *e, const char *tenant,
		      const char *store_id, struct authz_model *m,
		      char id[AUTHZ_ID_LEN + 1], struct bw_err *err) BW_WUR;

/*
 * Writes model model_id (NULL or "": the latest) of the store as JSON
 * through w ({"id", "schema_version", ...}). Returns 0 or -1 (404).
 */
int authz_model_get_json(struct authz_engine *e, const char *tenant,
			 const char *store_id, const char *model_id,
			 struct json_writer *w, struct bw_err *err) BW_WUR;
/* Lists model ids newest first after `after` (NULL: from the newest).
 * OUT: ids[0..*n) (each AUTHZ_ID_LEN + 1). */
int authz_model_list(struct authz_engine *e, const char *tenant,
		     const char *store_id, const char *after, size_t max,
		     char (*ids)[AUTHZ_ID_LEN + 1], size_t *n,
		     struct bw_err *err) BW_WUR;

/* ---------------------------------------------------------------- tuples */

/*
 * A relationship tuple: object "type:id", relation, user "type:id",
 * "type:*" or "type:id#relation", and an optional condition (name and its
 * context: a JSON object, borrowed). Strings are borrowed NUL-terminated.
 */
struct authz_tuple {
	const char *object;
	const char *relation;
	const char *user;
	const char *cond_name;                 /* NULL or "": none */
	const struct json_value *cond_context; /* NULL: none */
};

enum authz_on_conflict { AUTHZ_CONFLICT_ERROR = 0, AUTHZ_CONFLICT_IGNORE };

struct authz_write_req {
	const char *model_id; /* NULL: the latest; writes are validated
				 against this model */
	const struct authz_tuple *writes;
	size_t nwrites;
	const struct authz_tuple *deletes;
	size_t ndeletes;
	enum authz_on_conflict on_duplicate; /* writing an existing tuple */
	enum authz_on_conflict on_missing;   /* deleting an absent tuple */
};

/*
 * Writes and deletes tuples in one transaction: all or nothing. Writes are
 * validated against the named model (type restrictions, conditions);
 * deletes are not (a tuple the model no longer allows can be removed).
 * Blocks until durable. Errors: 400 "validation_error" (bad tuple, too
 * many, duplicate in the request), 409 "exists" / "not_found_delete" (an
 * existing write / a missing delete under AUTHZ_CONFLICT_ERROR), 404.
 */
int authz_write(struct authz_engine *e, const char *tenant,
		const char *store_id, const struct authz_write_req *req,
		struct bw_err *err) BW_WUR;

/* One stored tuple as reported by read / read-changes (arena strings). */
struct authz_tuple_rec {
	const char *object, *relation, *user;
	const char *cond_name;    /* NULL when none */
	const char *cond_context; /* JSON object text or NULL */
	int64_t time_ns;
	bool deleted;             /* read-changes: a delete */
};

/*
 * Reads stored tuples matching filter (object "type:id" or "type:",
 * relation, user; NULL/"" fields are wildcards; an object "type:" needs a
 * user, as in OpenFGA). Pagination: page_size (0: default) and an opaque
 * continuation token (NULL/"" to start); OUT: recs[0..*n) and next_token
 * (arena string, "" at the end). Strings are allocated from a.
 */
int authz_read(struct authz_engine *e, const char *tenant, const char *store_id,
	       const char *object, const char *relation, const char *user,
	       size_t page_size, const char *token, struct bw_arena *a,
	       struct authz_tuple_rec **recs, size_t *n, const char **next_token,
	       struct bw_err *err) BW_WUR;

/*
 * The changes feed: tuple writes and deletes in commit order after token
 * (NULL/"": from the beginning), optionally only for object type `type`.
 * next_token resumes after the last change returned (when there are none,
 * it is the token passed in, so a client can poll). 400 on a bad token.
 */
int authz_read_changes(struct authz_engine *e, const char *tenant,
		       const char *store_id, const char *type, size_t page_size,
		       const char *token, struct bw_arena *a,
		       struct authz_tuple_rec **recs, size_t *n,
		       const char **next_token, struct bw_err *err) BW_WUR;

/* --------------------------------------------------------------- queries */

enum authz_consistency {
	AUTHZ_CONSISTENCY_UNSPECIFIED = 0, /* as MINIMIZE_LATENCY */
	AUTHZ_CONSISTENCY_MINIMIZE_LATENCY, /* may answer from the check cache */
	AUTHZ_CONSISTENCY_HIGHER,           /* never from the cache */
};

/* What every query shares. Everything is borrowed for the call. */
struct authz_query {
	const char *tenant;
	const char *store_id;
	const char *model_id;                 /* NULL/"": the latest */
	const struct authz_tuple *contextual; /* evaluated as if stored */
	size_t ncontextual;
	const struct json_value *context;     /* JSON object or NULL */
	enum authz_consistency consistency;
};

/*
 * Is `user` related to `object` by `relation`? OUT: *allowed. Returns 0,
 * or -1 with err: 400 for invalid input (unknown type or relation, bad
 * contextual tuple), "missing_context" when a condition needed a parameter
 * the context lacks (and no other path decided), "resolution_too_complex"
 * past the depth or breadth limit; 404.
 */
int authz_check(struct authz_engine *e, const struct authz_query *q,
		const char *user, const char *relation, const char *object,
		bool *allowed, struct bw_err *err) BW_WUR;

/*
 * Expands object#relation one level, as OpenFGA's Expand: writes
 * {"tree":{"root":{...}}} through w. Returns 0 or -1.
 */
int authz_expand(struct authz_engine *e, const struct authz_query *q,
		 const char *relation, const char *object, struct json_writer *w,
		 struct bw_err *err) BW_WUR;

/*
 * Objects of `type` that `user` has `relation` with, at most list_max.
 * OUT: objs[0..*n) (arena strings, sorted). Returns 0 or -1.
 */
int authz_list_objects(struct authz_engine *e, const struct authz_query *q,
		       const char *type, const char *relation, const char *user,
		       struct bw_arena *a, const char ***objs, size_t *n,
		       struct bw_err *err) BW_WUR;

/*
 * Users of `filter_type` (and, when filter_rel is set, usersets
 * "type:id#filter_rel") related to object by relation. Results are "type:id",
 * "type:*" (a wildcard) or "type:id#rel", sorted. OUT: users[0..*n).
 */
int authz_list_users(struct authz_engine *e, const struct authz_query *q,
		     const char *object, const char *relation,
		     const char *filter_type, const char *filter_rel,
		     struct bw_arena *a, const char ***users, size_t *n,
		     struct bw_err *err) BW_WUR;

/* Statistics for /metrics and benchmarks. */
struct authz_stats {
	uint64_t checks, cache_hits, cache_misses, writes, tuples;
};
void authz_stats_get(struct authz_engine *e, struct authz_stats *out);

/* The engine's option values after defaults (for the API layer). */
const struct authz_options *authz_engine_options(const struct authz_engine *e);

/* ------------------------------------------------------- platform roles */

/*
 * bulwark's own authorization. The built-in model (platform.fga, compiled
 * in) defines the 18 platform roles; authz_platform_init creates (once)
 * the tenant's platform store "bulwark-platform" with that model.
 * Subjects are "user:ID", "apikey:ID" or "group:ID#member".
 */
int authz_platform_init(struct authz_engine *e, const char *tenant,
			struct bw_err *err) BW_WUR;
/* Grants or revokes a role (e.g. "key-admin") to a subject in tenant.
 * platform-admin only in the tenant "platform". */
int authz_platform_assign(struct authz_engine *e, const char *tenant,
			  const char *subject, const char *role, bool grant,
			  struct bw_err *err) BW_WUR;
/*
 * Forgets a deleted tenant's role grants and group memberships: drops its
 * platform store, so a tenant created later under the same name starts
 * with none (group ids are names and would otherwise carry grants over).
 * The identity module calls this after deleting a tenant. No-op when the
 * tenant has no platform store; refuses the platform tenant. 0 or -1.
 */
int authz_platform_drop(struct authz_engine *e, const char *tenant,
			struct bw_err *err) BW_WUR;
/*
 * Mirrors an identity group's membership into the tenant's platform store
 * (group:GROUP#member@SUBJECT), so roles granted to "group:GROUP#member"
 * reach its members; SUBJECT is "user:ID", "apikey:ID" or, for nested
 * groups, "group:ID#member". add false removes it. Idempotent. The
 * identity module calls this when a membership changes (creating the
 * tenant's platform store if needed). Returns 0 or -1 with err (400 bad
 * subject or group id).
 */
int authz_platform_membership(struct authz_engine *e, const char *tenant,
			      const char *group, const char *subject, bool add,
			      struct bw_err *err) BW_WUR;
/*
 * May subject perform the operation named by permission (the string an
 * admin route declares, e.g. "kms.key.use") in tenant? False for unknown
 * permissions, unknown tenants and on any error (fail closed).
 */
bool authz_platform_check(struct authz_engine *e, const char *tenant,
			  const char *subject, const char *permission);
/*
 * Does subject hold role (e.g. "tenant-admin") in tenant — granted
 * directly, through a group, or through a role that includes it
 * (platform-admin includes tenant-admin)? 1 yes, 0 no (also for a tenant
 * without a platform store), -1 with err: 400 for an unknown role, 5xx on
 * a store failure. subject NULL: 0 when role is a known role name. For the
 * identity module's per-role "MFA required" policy.
 */
int authz_platform_holds(struct authz_engine *e, const char *tenant,
			 const char *subject, const char *role, struct bw_err *err);
/* The model text (NUL-terminated, static). */
const char *authz_platform_model_text(void);
/* Appends docs/roles.md (the role x permission table, generated from the
 * model) to out. Returns 0 or -1. */
int authz_platform_roles_md(struct bw_buf *out) BW_WUR;

/* ------------------------------------------------------------ HTTP / CLI */

/* Registers the OpenFGA-compatible routes under /stores/... and
 * /api/v1/fga/stores/... (api_register). Start-up only. e is borrowed for
 * the process lifetime. */
int authz_api_register(struct authz_engine *e) BW_WUR;

/* `bulwark authz ...`: argv[0] is "authz". Returns the exit status. */
int authz_cli_main(int argc, char **argv);

#endif
