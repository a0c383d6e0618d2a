/*
 * authz_limits.h — every bound the authorization engine enforces on its
 * inputs (models, conditions, tuples, queries), with the default and, where
 * configuration may change it, the hard maximum it may not exceed. The
 * OpenFGA-compatible numbers follow OpenFGA's own defaults so that a client
 * written against OpenFGA sees the same refusals here.
 */
#ifndef BW_AUTHZ_LIMITS_H
#define BW_AUTHZ_LIMITS_H

/* ------------------------------------------------------------------ model */

/* Bytes of one model in DSL or JSON form. The largest real models (a few
 * hundred types) are under 256 KiB; OpenFGA refuses models over 256 KiB
 * (max-authorization-model-size-in-bytes). */
#define AUTHZ_MODEL_MAX_BYTES ((size_t)256 << 10)
/* Type definitions in one model. OpenFGA has no fixed cap below the size
 * limit; 1,024 types is far beyond any model we know and bounds the
 * validation's quadratic passes. */
#define AUTHZ_MODEL_MAX_TYPES 1024
/* Relations in one type: 256 covers permission-heavy types (our platform
 * type has ~60) while keeping per-type lookups cheap. */
#define AUTHZ_MODEL_MAX_RELATIONS 256
/* Direct type restrictions of one relation ([user, group#member, ...]). */
#define AUTHZ_MODEL_MAX_RESTRICTIONS 64
/* Nodes in one relation's rewrite tree (operands of or/and/but not plus
 * groupings): 256 is far more than any hand-written definition. */
#define AUTHZ_MODEL_MAX_REWRITE_NODES 256
/* Parenthesis nesting in one rewrite; bounds the parser's recursion. */
#define AUTHZ_MODEL_MAX_REWRITE_DEPTH 16
/* Conditions in one model, and parameters of one condition. */
#define AUTHZ_MODEL_MAX_CONDITIONS 256
#define AUTHZ_MODEL_MAX_PARAMS 32
/* Length of a type name (OpenFGA: ^[^:#@\s]{1,254}$). */
#define AUTHZ_TYPE_NAME_MAX 254
/* Length of a relation or condition name (OpenFGA: relation {1,50}). */
#define AUTHZ_RELATION_NAME_MAX 50
#define AUTHZ_CONDITION_NAME_MAX 50

/* ------------------------------------------------------------------ CEL */

/* Bytes of one condition expression. Conditions are short predicates;
 * 4 KiB is generous and keeps compile time trivial. */
#define AUTHZ_CEL_MAX_BYTES 4096
/* AST nodes of one expression and its nesting depth (bounds the
 * recursive-descent parser and the evaluator's C stack). */
#define AUTHZ_CEL_MAX_NODES 1024
#define AUTHZ_CEL_MAX_DEPTH 32
/* Evaluation steps per condition evaluation (a node visit or one element
 * of an `in` scan / list build). Stops pathological list/string work. */
#define AUTHZ_CEL_MAX_STEPS 10000
/* Bytes of one string value built at evaluation (concatenation). */
#define AUTHZ_CEL_MAX_STRING 65536

/* ---------------------------------------------------------------- tuples */

/* OpenFGA's tuple field bounds: object "type:id" up to 256 bytes, user up
 * to 512 bytes (it may be a userset "type:id#relation"), relation 50. */
#define AUTHZ_OBJECT_MAX 256
#define AUTHZ_USER_MAX 512
/* Tuples (writes plus deletes) in one write request: OpenFGA's
 * max-tuples-per-write default. */
#define AUTHZ_WRITE_MAX_DEFAULT 100
#define AUTHZ_WRITE_MAX_HARD 1000
/* Contextual tuples in one query (OpenFGA caps them at 100). */
#define AUTHZ_CONTEXTUAL_MAX 100
/* Bytes of a condition context (JSON) stored with one tuple, and of the
 * request context of one query. OpenFGA bounds tuple context by the same
 * order of magnitude; contexts are small attribute bags. */
#define AUTHZ_CONTEXT_MAX_BYTES ((size_t)32 << 10)
/* Checks in one batch-check request (OpenFGA max-checks-per-batch-check). */
#define AUTHZ_BATCH_MAX_DEFAULT 50
#define AUTHZ_BATCH_MAX_HARD 1000

/* -------------------------------------------------------------- queries */

/* Resolution depth: nested dispatches (computed usersets, tuple-to-userset
 * and userset edges) one query may follow. OpenFGA's resolve-node-limit
 * default is 25; deeper graphs answer "resolution too complex". */
#define AUTHZ_RESOLVE_DEPTH_DEFAULT 25
#define AUTHZ_RESOLVE_DEPTH_HARD 100
/* Sub-problems one query may evaluate (fan-out bound, independent of
 * depth): a wide graph could otherwise make one request very expensive. */
#define AUTHZ_RESOLVE_BREADTH_DEFAULT 200000
#define AUTHZ_RESOLVE_BREADTH_HARD 10000000
/* Results of one list-objects / list-users call: OpenFGA's
 * list-objects-max-results and list-users-max-results default 1000. */
#define AUTHZ_LIST_MAX_DEFAULT 1000
#define AUTHZ_LIST_MAX_HARD 100000
/* Wall-clock budget of one list-objects / list-users call in ms: OpenFGA's
 * list-objects-deadline default of 3 s. */
#define AUTHZ_LIST_DEADLINE_MS_DEFAULT 3000
#define AUTHZ_LIST_DEADLINE_MS_HARD 60000
/* Page size of read, read-changes and list endpoints: OpenFGA's default
 * is 50 and it refuses more than 100. */
#define AUTHZ_PAGE_DEFAULT 50
#define AUTHZ_PAGE_MAX 100
/* Per-request arena ceiling (memoisation, contextual tuples, results). */
#define AUTHZ_QUERY_ARENA_MAX ((size_t)64 << 20)

/* ---------------------------------------------------------------- cache */

/* Check-result cache entries per engine (0 disables). 64 Ki entries of
 * ~48 bytes is 3 MiB; OpenFGA's check-query-cache default limit is 10,000
 * and we hold more because entries are smaller. */
#define AUTHZ_CACHE_ENTRIES_DEFAULT 65536
#define AUTHZ_CACHE_ENTRIES_HARD ((size_t)16 << 20)

/* -------------------------------------------------------------- stores */

/* Length of a store name (OpenFGA: 3 to 64 characters). */
#define AUTHZ_STORE_NAME_MIN 3
#define AUTHZ_STORE_NAME_MAX 64
/* Stores per tenant: a tenant's applications, not an unbounded set. */
#define AUTHZ_STORES_PER_TENANT_MAX 1024
/* Tenant id length (matches the event bus's tenant field). */
#define AUTHZ_TENANT_MAX 63

/* ------------------------------------------------------- platform roles */

/* Role grants listed by GET .../role-assignments in one answer: a tenant's
 * people, keys and groups, not a bulk export (read the changes feed for
 * that); 10,000 grants of ~100 bytes stay far under the 4 MiB response. */
#define AUTHZ_ROLE_LIST_MAX 10000
/* A role subject in a path ("group:ID#member", percent-encoded): the
 * object and relation limits bound it. */
#define AUTHZ_SUBJECT_MAX (AUTHZ_OBJECT_MAX + 1 + AUTHZ_RELATION_NAME_MAX)

#endif
