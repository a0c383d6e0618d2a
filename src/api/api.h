/*
 * api — the admin listener's HTTP surface: /healthz, /readyz, /metrics
 * (OpenMetrics) and the JSON REST API under /api/v1, plus the gateway
 * listener's built-in demo page (until the gateway module takes over).
 *
 * Every /api/v1 route is declared in one table with the permission it
 * needs; the caller is authenticated (bootstrap admin token until the
 * identity module exists), authorised against that permission, asked for
 * a recent step-up when the route is sensitive and the caller a human
 * session (api_stepup.c), and every state-changing call — allowed,
 * failed or denied — is written to the audit log before the caller gets
 * its answer.
 */
#ifndef BW_API_H
#define BW_API_H

#include "audit/audit.h"
#include "core/core.h"
#include "loop/loop.h"
#include "net/net.h"
#include "event/event.h"
#include "json/json.h"

#define API_TOKEN_HASH_LEN 32

/* Who a call is made by, as the identity module reports it. */
struct api_principal {
	char tenant[64];
	char subject[160]; /* for the authorization engine */
	/* A second subject that may hold roles of its own (an API key:
	 * "apikey:ID", next to its user's "user:ID"); empty when none. */
	char key_subject[160];
	char actor[128];   /* for the audit log */
	/* The handle of the human session the bearer token is (step-up
	 * applies to it); empty for API keys and the bootstrap token. */
	char session[64];
	/* An API key's scopes (space-separated permission names or their
	 * dotted prefixes: "kms" covers "kms.key.use"); empty: the key may
	 * do all its roles allow. */
	char scopes[520];
};

/* What a caller must do before a step_up route answers (see step_up in
 * struct api_ctx). */
struct api_step_up {
	int64_t max_age_s; /* the tenant's window */
	bool enrol;	   /* no second factor while the tenant demands one */
	char url[160];	   /* the REST step-up endpoint */
	char page[160];	   /* the browser's step-up page (security keys) */
};

/* Routes whose permission is API_PUBLIC need no credentials (logins). */
#define API_PUBLIC "public"
/* Routes acting only on the caller's own account need no role. */
#define API_SELF "iam.self"

/* Path-prefix handlers on the admin listener: ACME, OIDC, the sign-in
 * pages, federation, with room for a few more. */
#define API_MAX_MOUNTS 8

/* Shared by every worker thread; immutable after setup except where
 * noted. Owned by the worker. */
struct api_ctx {
	struct audit_log *audit; /* borrowed */
	struct tpool *pool;      /* borrowed */
	_Atomic bool have_token; /* cleared when the token is retired */
	uint8_t token_hash[API_TOKEN_HASH_LEN]; /* SHA-256 of the bootstrap token */
	bool clock_control;      /* testing.clock_control */
	int64_t started_s;
	unsigned workers;
	_Atomic uint64_t generation; /* config generation, bumped on reload */
	_Atomic int ready;
	/* Asks the supervisor for a reload (signals it). */
	int (*request_reload)(void);
	/* The authorization decision for every route: may subject ("user:ID",
	 * "apikey:ID") do permission in tenant? Set by the worker to the
	 * authorization engine; NULL denies everything (fail closed). */
	bool (*authorize)(void *arg, const char *tenant, const char *subject,
			  const char *permission);
	void *authorize_arg;
	/* Bearer tokens of real identities (sessions, API keys): 0 with the
	 * principal's tenant, authorization subject ("user:ID") and actor id
	 * filled; -1 not valid (401); -2 cannot tell now (503). NULL: only
	 * the bootstrap token is known. */
	int (*authenticate)(void *arg, const char *token, size_t len,
			    struct api_principal *out);
	void *authenticate_arg;
	/* Step-up for routes marked step_up, asked only for principals with a
	 * session (API keys and the bootstrap token are exempt: machines have
	 * no second factor). 0 when the session's last strong authentication
	 * is recent enough; 1 when it is not (OUT: out, the answer is 401
	 * step_up_required); -2 cannot tell now (503). NULL: no step-up. */
	int (*step_up)(void *arg, const struct api_principal *who,
		       struct api_step_up *out);
	void *step_up_arg;
	/* Consulted before routing (NDJSON ingest with its own keys): true
	 * when it took the request. */
	bool (*pre_route)(struct net_exchange *x, void *arg);
	void *pre_route_arg;
	/* Appends more OpenMetrics families to /metrics. */
	int (*metrics_extra)(void *arg, struct bw_buf *out);
	void *metrics_extra_arg;
	/* Other handlers on the admin listener by path prefix (OIDC). */
	struct {
		const char *prefix;
		net_handler_fn fn;
		void *arg;
	} mounts[API_MAX_MOUNTS];
	size_t nmounts;
};

/* Adds a handler for every admin-listener path under prefix (kept, not
 * copied). 0, or -1 when API_MAX_MOUNTS are taken. */
int api_mount(struct api_ctx *ctx, const char *prefix, net_handler_fn fn, void *arg) BW_WUR;

/* ------------------------------------------------------------- routes */

/*
 * Modules add their REST routes with api_register() at start-up, before the
 * worker serves. A route's path is matched segment by segment; a segment
 * written "{name}" matches any one non-empty segment and is available to
 * the handler as api_param(call, "name"). Every route names the permission
 * it needs; `mutating` routes are state changes and are audited (action is
 * the audit action, e.g. "kms.key.create").
 *
 * A handler receives a struct api_call and must end it exactly once with
 * api_reply(), api_reply_audited() or api_fail(), on the loop thread (a
 * handler that offloads work to the thread pool ends the call from the
 * completion, which tpool_submit posts back to api_loop(call)).
 */
struct api_call;
typedef void (*api_fn)(struct api_call *call);

struct api_route {
	enum http_method method;
	const char *path;
	const char *permission;
	const char *action; /* audit action; required when mutating */
	bool mutating;
	api_fn fn;
};

/*
 * Sensitive routes (destructive or privilege-changing) are named by their
 * audit action: a human session must have passed a recent step-up
 * (struct api_ctx step_up) before one runs. api_step_up_builtin lists the
 * other modules' sensitive actions (api_stepup.c); a module adds its own
 * with api_step_up_require (start-up only; the strings are borrowed).
 * -1 when API_MAX_STEP_UP actions are taken.
 */
#define API_MAX_STEP_UP 96
int api_step_up_require(const char *const *actions, size_t n) BW_WUR;
/* True when routes with this audit action need a recent step-up. */
bool api_step_up_needed(const char *action);

/* An API key's scopes (space-separated) narrow what its roles allow:
 * true when permission is one of them or starts with one followed by
 * '.'. Empty scopes: no narrowing (true). Other front doors that take
 * API keys (the PKCS#11 socket) apply the same rule. */
bool api_scope_allows(const char *scopes, const char *permission);

/* Registers n routes (borrowed: static tables). Returns -1 when the route
 * table is full or a route is malformed. Not thread-safe: start-up only. */
int api_register(const struct api_route *routes, size_t n) BW_WUR;
/* Calls fn for every registered route in registration order (the route
 * listing and the generated authorization matrix test read it); stops and
 * returns -1 when fn returns non-zero, else 0. Routes are borrowed. Safe
 * once start-up registration is over (the table is immutable after). */
int api_routes_foreach(int (*fn)(const struct api_route *r, void *arg), void *arg);

struct net_exchange *api_exchange(struct api_call *call);
struct api_ctx *api_context(struct api_call *call);
struct loop *api_loop(struct api_call *call);
struct bw_arena *api_arena(struct api_call *call);
/* The authenticated actor id ("bootstrap" until identity exists). */
const char *api_actor(struct api_call *call);
const char *api_tenant(struct api_call *call);
/* The caller's session handle (a human session), or NULL for API keys,
 * the bootstrap token and public routes. */
const char *api_session(struct api_call *call);
/* A "{name}" path segment, or NULL. Arena memory; not percent-decoded. */
const char *api_param(struct api_call *call, const char *name);
/* The request body parsed as JSON (NULL with err filled when it is not
 * valid JSON or is empty). */
const struct json_value *api_body_json(struct api_call *call, struct bw_err *err);
/* The response body under construction; handlers write JSON into it with a
 * json_writer. */
struct bw_buf *api_out(struct api_call *call);
/* Audit target and details (details: a JSON object text). */
void api_set_target(struct api_call *call, const char *target);
void api_set_details(struct api_call *call, const char *json_object);

/* Sends api_out() with status (not audited: read-only routes). */
void api_reply(struct api_call *call, int status);
/* The same with another content type (CSV, HTML reports). */
void api_reply_typed(struct api_call *call, int status, const char *content_type);
/* Writes the audit record (outcome) durably, then sends api_out() with
 * status and an X-Audit-Seq header. If the audit log refuses, the caller
 * gets 503 instead: an action is never acknowledged unaudited. */
void api_reply_audited(struct api_call *call, int status, enum audit_outcome outcome);
/* Sends {"error":{code,message,request_id}} with status. On a mutating
 * route the failure is audited (outcome failure, or denied for 401/403). */
void api_fail(struct api_call *call, int status, const char *code,
	      const char *message);

/* Registers the platform's own routes (status, audit, reload, test
 * clock). */
int api_system_register(void) BW_WUR;

/* net handler for admin listeners; arg is the struct api_ctx. */
void api_handle(struct net_exchange *x, void *arg);

/* Reads the bootstrap token hash from DATA_DIR/bootstrap-token.sha256.
 * Returns 0 (have_token set), or -1 with err. */
int api_load_token_hash(struct api_ctx *ctx, const char *data_dir,
			struct bw_err *err) BW_WUR;
/* Creates a new bootstrap token: writes its SHA-256 to
 * DATA_DIR/bootstrap-token.sha256 and the token itself to
 * DATA_DIR/bootstrap-token (both 0600). OUT: token (NUL-terminated,
 * 44 chars + NUL). */
int api_create_token(const char *data_dir, char token[64],
		     struct bw_err *err) BW_WUR;

/* The event-bus subscriber that keeps per-category event counters for
 * /metrics. */
void api_metrics_subscriber(const struct bw_event *ev, void *arg);

#endif
