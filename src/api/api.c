/*
 * Admin API core: the route table modules register into, path matching
 * with {param} segments, bearer authentication, the permission check every
 * route declares (narrowed by an API key's scopes), the step-up check of
 * sensitive routes (a human session
 * whose last strong authentication is too old gets 401 step_up_required;
 * API keys and the bootstrap token are exempt), and the call lifecycle —
 * including the rule that a state change is acknowledged only after its
 * audit record is durable.
 */
#include "api/api_int.h"

#include <openssl/sha.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define API_MAX_ROUTES 256
#define API_MAX_PARAMS 4

static const struct api_route *route_table[API_MAX_ROUTES];
static size_t nroutes;

struct api_call {
	struct net_exchange *x;
	struct api_ctx *ctx;
	const struct api_route *route;
	const char *actor_id;
	const char *tenant;
	struct api_principal who;
	struct bw_buf out;
	const char *param_names[API_MAX_PARAMS];
	const char *param_values[API_MAX_PARAMS];
	size_t nparams;
	char target[160];
	char details[API_MAX_DETAILS];
	bool body_parsed;
	const struct json_value *body;
	struct bw_err body_err;
	int status;
};

int api_register(const struct api_route *routes, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct api_route *r = &routes[i];
		if (nroutes == API_MAX_ROUTES || !r->path || r->path[0] != '/' ||
		    !r->permission || !r->fn || (r->mutating && !r->action))
			return -1;
		route_table[nroutes++] = r;
	}
	return 0;
}

int api_routes_foreach(int (*fn)(const struct api_route *r, void *arg), void *arg)
{
	for (size_t i = 0; i < nroutes; i++)
		if (fn(route_table[i], arg) != 0)
			return -1;
	return 0;
}

/* ------------------------------------------------------------ helpers */

static const char *security_headers[][2] = {
	{ "Cache-Control", "no-store" },
	{ "X-Content-Type-Options", "nosniff" },
	{ "Strict-Transport-Security", "max-age=63072000" },
	{ "Referrer-Policy", "no-referrer" },
};

void api_security_headers(struct net_exchange *x)
{
	for (size_t i = 0; i < BW_ARRAY_LEN(security_headers); i++)
		net_add_header(x, security_headers[i][0], security_headers[i][1]);
}

void api_finish_json(struct json_writer *w)
{
	if (json_writer_finish(w) < 0)
		log_warnx("api: JSON response truncated");
}

static void write_error(struct bw_buf *b, const char *code, const char *message,
			const char *request_id)
{
	bw_buf_reset(b);
	struct json_writer w;
	json_writer_init(&w, b);
	json_write_object_begin(&w);
	json_write_key(&w, "error");
	json_write_object_begin(&w);
	json_write_kv_string(&w, "code", code);
	json_write_kv_string(&w, "message", message);
	json_write_kv_string(&w, "request_id", request_id);
	json_write_object_end(&w);
	json_write_object_end(&w);
	api_finish_json(&w);
}

void api_respond_error(struct net_exchange *x, int status, const char *code,
		       const char *message)
{
	struct bw_buf b;
	bw_buf_init(&b, 8192);
	write_error(&b, code, message, net_request_id(x));
	if (status == 401)
		net_add_header(x, "WWW-Authenticate", "Bearer realm=\"bulwark\"");
	api_security_headers(x);
	net_respond(x, status, "application/json", b.data ? b.data : "", b.len);
	bw_buf_fini(&b);
}

static void emit_auth_event(struct net_exchange *x, bool ok, const char *who_or_reason,
			    const char *tenant)
{
	struct bw_event ev;
	bw_event_init(&ev, "authentication", "api-authenticate",
		      ok ? BW_OUTCOME_SUCCESS : BW_OUTCOME_FAILURE);
	ev.severity = ok ? 0 : 3;
	BW_EVENT_SET(&ev, source_ip, net_peer_ip(x));
	BW_EVENT_SET(&ev, request_id, net_request_id(x));
	BW_EVENT_SET(&ev, tenant, tenant);
	if (ok)
		BW_EVENT_SET(&ev, user, who_or_reason);
	else
		bw_event_add_field(&ev, "reason", who_or_reason);
	(void)bw_event_emit(&ev);
}

/* Authenticates the bearer token: a real identity (session or API key)
 * through the identity module, else the bootstrap token, whose SHA-256
 * is compared in constant time with the stored hash. Returns 0 with who
 * filled, -1 (401, reason set) or -2 (503). */
static int authenticate(struct api_ctx *ctx, struct net_exchange *x,
			struct api_principal *who, const char **reason)
{
	const struct http_request *r = net_request(x);
	const struct http_header *h =
		http_header_find(r->headers, r->nheaders, "authorization");
	*reason = "missing_credentials";
	if (!h)
		return -1;
	struct bw_str v = h->value;
	if (v.len < 8 || !bw_str_caseeq_lit(bw_str_make(v.p, 7), "bearer "))
		return -1;
	*reason = "bad_token";
	if (v.len - 7 > 1024)
		return -1;
	const char *tok = v.p + 7;
	size_t tlen = v.len - 7;
	if (ctx->authenticate && !(tlen > 4 && memcmp(tok, "bwt_", 4) == 0)) {
		char copy[1025];
		memcpy(copy, tok, tlen);
		copy[tlen] = '\0';
		int rc = ctx->authenticate(ctx->authenticate_arg, copy, tlen, who);
		bw_wipe(copy, tlen);
		return rc;
	}
	if (!ctx->have_token)
		return -1;
	uint8_t digest[SHA256_DIGEST_LENGTH];
	SHA256((const unsigned char *)tok, tlen, digest);
	bool ok = bw_ct_equal(digest, sizeof(digest), ctx->token_hash,
			      sizeof(ctx->token_hash));
	bw_wipe(digest, sizeof(digest));
	if (!ok)
		return -1;
	bw_snprintf(who->tenant, sizeof(who->tenant), "platform");
	bw_snprintf(who->subject, sizeof(who->subject), "user:bootstrap");
	bw_snprintf(who->actor, sizeof(who->actor), "bootstrap");
	return 0;
}

bool api_scope_allows(const char *scopes, const char *permission)
{
	if (!scopes[0])
		return true;
	size_t pl = strlen(permission);
	for (const char *s = scopes; *s;) {
		while (*s == ' ')
			s++;
		size_t n = strcspn(s, " ");
		if (n && n <= pl && memcmp(s, permission, n) == 0 &&
		    (n == pl || permission[n] == '.'))
			return true;
		s += n;
	}
	return false;
}

/* Every route's permission is decided by the authorization engine, on
 * the caller's platform roles in the call's tenant. */
static bool authorize(struct api_ctx *ctx, const struct api_principal *who,
		      const char *permission)
{
	/* Self-service (one's own password, sessions): any authenticated
	 * principal, on its own account only — the identity module checks
	 * the account is the caller's. */
	if (strcmp(permission, API_SELF) == 0)
		return true;
	if (!ctx->authorize)
		return false;
	return ctx->authorize(ctx->authorize_arg, who->tenant, who->subject, permission) ||
	       (who->key_subject[0] &&
		ctx->authorize(ctx->authorize_arg, who->tenant, who->key_subject, permission));
}

/* ---------------------------------------------------------- call API */

struct net_exchange *api_exchange(struct api_call *call)
{
	return call->x;
}

struct api_ctx *api_context(struct api_call *call)
{
	return call->ctx;
}

struct loop *api_loop(struct api_call *call)
{
	return net_loop(call->x);
}

struct bw_arena *api_arena(struct api_call *call)
{
	return net_arena(call->x);
}

const char *api_actor(struct api_call *call)
{
	return call->actor_id;
}

const char *api_tenant(struct api_call *call)
{
	return call->tenant;
}

const char *api_session(struct api_call *call)
{
	return call->actor_id && call->who.session[0] ? call->who.session : NULL;
}

const char *api_param(struct api_call *call, const char *name)
{
	for (size_t i = 0; i < call->nparams; i++)
		if (strcmp(call->param_names[i], name) == 0)
			return call->param_values[i];
	return NULL;
}

const struct json_value *api_body_json(struct api_call *call, struct bw_err *err)
{
	if (!call->body_parsed) {
		struct bw_str b = net_request_body(call->x);
		call->body_parsed = true;
		call->body = json_parse(api_arena(call), b.p, b.len, NULL,
					&call->body_err);
	}
	if (!call->body && err)
		*err = call->body_err;
	return call->body;
}

struct bw_buf *api_out(struct api_call *call)
{
	return &call->out;
}

void api_set_target(struct api_call *call, const char *target)
{
	bw_event_set(call->target, sizeof(call->target), target);
}

void api_set_details(struct api_call *call, const char *json_object)
{
	bw_event_set(call->details, sizeof(call->details), json_object);
}

static void call_free(struct api_call *call)
{
	bw_buf_wipe_fini(&call->out);
	free(call);
}

void api_reply_typed(struct api_call *call, int status, const char *content_type)
{
	api_security_headers(call->x);
	net_respond(call->x, status, content_type,
		    call->out.data ? call->out.data : "", call->out.len);
	call_free(call);
}

void api_reply(struct api_call *call, int status)
{
	api_reply_typed(call, status, "application/json");
}

/* --------------------------------------------------------- audit glue */

struct audit_pending {
	struct api_call *call;
	struct loop *loop;
	int status;
	uint64_t seq;
	struct bw_err err;
};

static void audit_done_on_loop(void *arg)
{
	struct audit_pending *p = arg;
	struct api_call *call = p->call;
	if (p->status != 0) {
		log_warnx("audit append failed: %s", p->err.msg);
		api_respond_error(call->x, 503, "audit_unavailable",
				  "the audit log refused the record");
		call_free(call);
	} else {
		char seq[32];
		bw_snprintf(seq, sizeof(seq), "%llu", (unsigned long long)p->seq);
		net_add_header(call->x, "X-Audit-Seq", seq);
		api_reply(call, call->status);
	}
	free(p);
}

static void audit_done(void *arg, int status, uint64_t seq, const struct bw_err *err)
{
	struct audit_pending *p = arg;
	p->status = status;
	p->seq = seq;
	if (err)
		p->err = *err;
	if (loop_post(p->loop, audit_done_on_loop, p) < 0)
		fatalx("cannot post audit completion");
}

static struct bw_str str_of(const char *s)
{
	return bw_str_make(s ? s : "", s ? strlen(s) : 0);
}

void api_reply_audited(struct api_call *call, int status, enum audit_outcome outcome)
{
	struct net_exchange *x = call->x;
	call->status = status;
	struct audit_pending *p = calloc(1, sizeof(*p));
	if (!p) {
		api_respond_error(x, 503, "overloaded", "out of memory");
		call_free(call);
		return;
	}
	p->call = call;
	p->loop = net_loop(x);
	/* A read route has no action of its own; its refusals are recorded
	 * as "api.denied" (the permission is in the details). */
	const char *action = !call->route ? "api.unknown" :
			     call->route->action ? call->route->action : "api.denied";
	struct audit_record rec = {
		.actor = { .tenant = str_of(call->tenant),
			   .kind = call->actor_id ? AUDIT_ACTOR_USER : AUDIT_ACTOR_SYSTEM,
			   .id = str_of(call->actor_id ? call->actor_id : "anonymous"),
			   .ip = str_of(net_peer_ip(x)) },
		.action = str_of(action),
		.target = str_of(call->target[0] ? call->target :
				 call->route ? call->route->path : ""),
		.outcome = outcome,
		.request_id = str_of(net_request_id(x)),
		.details = str_of(call->details[0] ? call->details : "{}"),
	};
	struct bw_err err;
	if (audit_append_async(call->ctx->audit, &rec, audit_done, p, &err) < 0) {
		free(p);
		api_respond_error(x, 503, "audit_unavailable", err.msg);
		call_free(call);
	}
}

void api_fail(struct api_call *call, int status, const char *code,
	      const char *message)
{
	if (status == 401)
		net_add_header(call->x, "WWW-Authenticate", "Bearer realm=\"bulwark\"");
	write_error(&call->out, code, message, net_request_id(call->x));
	/* State-changing routes are audited whatever the outcome; a refused
	 * permission is audited on every route (reads included): it names an
	 * authenticated actor, so it cannot be used to flood the log
	 * anonymously the way 401s could. */
	if (call->route && (call->route->mutating || status == 403)) {
		if (!call->details[0]) {
			struct bw_buf d = { .data = call->details,
					    .cap = sizeof(call->details),
					    .max = sizeof(call->details) - 1 };
			struct json_writer w;
			json_writer_init(&w, &d);
			json_write_object_begin(&w);
			json_write_kv_string(&w, "error", code);
			json_write_object_end(&w);
			if (json_writer_finish(&w) < 0)
				call->details[0] = '\0';
		}
		api_reply_audited(call, status,
				  status == 401 || status == 403 ? AUDIT_OUTCOME_DENIED :
								   AUDIT_OUTCOME_FAILURE);
		return;
	}
	api_reply(call, status);
}

/* ------------------------------------------------------------ step-up */

/*
 * A sensitive route called by a session whose last strong authentication
 * is older than its tenant's window: 401 with the error the client acts
 * on (step_up_required, or mfa_enrolment_required when the tenant wants a
 * second factor the user does not have), where to step up, and the
 * RFC 9470 challenge in WWW-Authenticate. Audited (denied) like any
 * refusal, and a SIEM event.
 */
static void step_up_refuse(struct api_call *call, const struct api_step_up *su)
{
	const char *code = su->enrol ? "mfa_enrolment_required" : "step_up_required";
	const char *msg = su->enrol ?
		"this operation needs a second factor: enrol one (authenticator app "
		"or security key) first" :
		"this operation needs a recent second-factor check: step up first";
	char hdr[200];
	bw_snprintf(hdr, sizeof(hdr),
		    "Bearer realm=\"bulwark\", error=\"insufficient_user_authentication\", "
		    "error_description=\"%s\", max_age=%lld",
		    su->enrol ? "enrol a second factor" : "step-up required",
		    (long long)su->max_age_s);
	net_add_header(call->x, "WWW-Authenticate", hdr);
	net_set_outcome_reason(call->x, code);
	struct bw_event ev;
	bw_event_init(&ev, "authentication", "step-up-required", BW_OUTCOME_FAILURE);
	ev.severity = 3;
	BW_EVENT_SET(&ev, source_ip, net_peer_ip(call->x));
	BW_EVENT_SET(&ev, request_id, net_request_id(call->x));
	BW_EVENT_SET(&ev, tenant, call->tenant);
	BW_EVENT_SET(&ev, user, call->actor_id);
	bw_event_add_field(&ev, "route", call->route->path);
	(void)bw_event_emit(&ev);
	bw_buf_reset(&call->out);
	struct json_writer w;
	json_writer_init(&w, &call->out);
	json_write_object_begin(&w);
	json_write_key(&w, "error");
	json_write_object_begin(&w);
	json_write_kv_string(&w, "code", code);
	json_write_kv_string(&w, "message", msg);
	json_write_kv_string(&w, "request_id", net_request_id(call->x));
	json_write_kv_string(&w, "step_up_url", su->url);
	json_write_kv_string(&w, "step_up_page", su->page);
	json_write_kv_int(&w, "max_age", su->max_age_s);
	json_write_object_end(&w);
	json_write_object_end(&w);
	api_finish_json(&w);
	char d[96];
	if (bw_snprintf(d, sizeof(d), "{\"error\":\"%s\"}", code) > 0)
		api_set_details(call, d);
	/* the object refused, not the route pattern */
	struct bw_str path = net_request(call->x)->path;
	bw_snprintf(call->target, sizeof(call->target), "%.*s",
		    (int)(path.len < sizeof(call->target) ? path.len : sizeof(call->target) - 1),
		    path.p);
	if (call->route->mutating)
		api_reply_audited(call, 401, AUDIT_OUTCOME_DENIED);
	else
		api_reply(call, 401);
}

/* True when the call may go on; otherwise it has been answered. */
static bool step_up_check(struct api_ctx *ctx, struct api_call *call)
{
	if (!call->who.session[0] || !ctx->step_up || !call->route->action ||
	    !api_step_up_needed(call->route->action))
		return true;
	struct api_step_up su;
	memset(&su, 0, sizeof(su));
	int rc = ctx->step_up(ctx->step_up_arg, &call->who, &su);
	if (rc == 0)
		return true;
	if (rc == 1) {
		step_up_refuse(call, &su);
		return false;
	}
	api_respond_error(call->x, 503, "unavailable", "cannot check the session now");
	call_free(call);
	return false;
}

/* ------------------------------------------------------------ routing */

/* Matches path against pattern segment by segment, collecting {params}
 * into call (arena copies). */
static bool match(const char *pattern, struct bw_str path, struct api_call *call,
		  struct bw_arena *a)
{
	const char *pp = pattern;
	size_t i = 0;
	size_t nparams = 0;
	while (*pp && i <= path.len) {
		if (*pp != '/' || i >= path.len || path.p[i] != '/')
			return false;
		pp++;
		i++;
		const char *pend = strchr(pp, '/');
		size_t plen = pend ? (size_t)(pend - pp) : strlen(pp);
		size_t s = i;
		while (i < path.len && path.p[i] != '/')
			i++;
		size_t slen = i - s;
		if (plen >= 2 && pp[0] == '{' && pp[plen - 1] == '}') {
			if (slen == 0 || nparams == API_MAX_PARAMS)
				return false;
			if (call) {
				call->param_names[nparams] =
					bw_arena_strndup(a, pp + 1, plen - 2);
				call->param_values[nparams] =
					bw_arena_strndup(a, path.p + s, slen);
			}
			nparams++;
		} else if (plen != slen || memcmp(pp, path.p + s, slen) != 0) {
			return false;
		}
		pp += plen;
	}
	if (*pp || i != path.len)
		return false;
	if (call)
		call->nparams = nparams;
	return true;
}

/* Dispatches a registered route. Returns false when no route's path
 * matches (the caller answers 404). */
bool api_dispatch(struct api_ctx *ctx, struct net_exchange *x)
{
	const struct http_request *r = net_request(x);
	const struct api_route *route = NULL;
	bool path_known = false;
	for (size_t i = 0; i < nroutes; i++) {
		if (!match(route_table[i]->path, r->path, NULL, NULL))
			continue;
		path_known = true;
		if (route_table[i]->method == r->method) {
			route = route_table[i];
			break;
		}
	}
	if (!route) {
		if (!path_known)
			return false;
		api_respond_error(x, 405, "method_not_allowed", "method not allowed");
		return true;
	}
	struct api_call *call = calloc(1, sizeof(*call));
	if (!call) {
		api_respond_error(x, 503, "overloaded", "out of memory");
		return true;
	}
	call->x = x;
	call->ctx = ctx;
	call->route = route;
	call->tenant = "platform";
	bw_buf_init(&call->out, API_MAX_RESPONSE);
	if (!match(route->path, r->path, call, net_arena(x))) {
		call_free(call);
		api_respond_error(x, 500, "internal", "route match failed");
		return true;
	}
	if (strcmp(route->permission, API_PUBLIC) == 0) {
		route->fn(call); /* logins: the handler authenticates */
		return true;
	}
	const char *reason;
	int rc = authenticate(ctx, x, &call->who, &reason);
	if (rc == -2) {
		api_respond_error(x, 503, "unavailable", "cannot check credentials now");
		call_free(call);
		return true;
	}
	if (rc == 0) {
		call->actor_id = call->who.actor;
		call->tenant = call->who.tenant;
	}
	emit_auth_event(x, rc == 0, rc == 0 ? call->who.actor : reason, call->tenant);
	if (rc != 0) {
		net_set_outcome_reason(x, reason);
		api_set_details(call, strcmp(reason, "bad_token") == 0 ?
					      "{\"reason\":\"bad_token\"}" :
					      "{\"reason\":\"missing_credentials\"}");
		api_fail(call, 401, "unauthenticated", "a valid bearer token is required");
		return true;
	}
	if (!api_scope_allows(call->who.scopes, route->permission)) {
		net_set_outcome_reason(x, "insufficient_scope");
		char d[200];
		if (bw_snprintf(d, sizeof(d),
				"{\"error\":\"insufficient_scope\",\"permission\":\"%s\"}",
				route->permission) > 0)
			api_set_details(call, d);
		api_fail(call, 403, "insufficient_scope",
			 "the API key's scopes do not cover this operation");
		return true;
	}
	if (!authorize(ctx, &call->who, route->permission)) {
		net_set_outcome_reason(x, "forbidden");
		char d[160];
		if (bw_snprintf(d, sizeof(d), "{\"error\":\"forbidden\",\"permission\":\"%s\"}",
				route->permission) > 0)
			api_set_details(call, d);
		api_fail(call, 403, "forbidden", "permission denied");
		return true;
	}
	if (!step_up_check(ctx, call))
		return true;
	route->fn(call);
	return true;
}

int api_mount(struct api_ctx *ctx, const char *prefix, net_handler_fn fn, void *arg)
{
	if (ctx->nmounts == API_MAX_MOUNTS)
		return -1;
	ctx->mounts[ctx->nmounts].prefix = prefix;
	ctx->mounts[ctx->nmounts].fn = fn;
	ctx->mounts[ctx->nmounts].arg = arg;
	ctx->nmounts++;
	return 0;
}

static bool mount_dispatch(struct api_ctx *ctx, struct net_exchange *x)
{
	const struct http_request *r = net_request(x);
	for (size_t i = 0; i < ctx->nmounts; i++) {
		size_t n = strlen(ctx->mounts[i].prefix);
		if (r->path.len >= n && memcmp(r->path.p, ctx->mounts[i].prefix, n) == 0) {
			ctx->mounts[i].fn(x, ctx->mounts[i].arg);
			return true;
		}
	}
	return false;
}

void api_handle(struct net_exchange *x, void *arg)
{
	struct api_ctx *ctx = arg;
	const struct http_request *r = net_request(x);
	bool get = r->method == HTTP_METHOD_GET || r->method == HTTP_METHOD_HEAD;
	if (get && bw_str_eq_lit(r->path, "/healthz")) {
		api_security_headers(x);
		net_respond(x, 200, "application/json", "{\"status\":\"ok\"}", 15);
	} else if (get && bw_str_eq_lit(r->path, "/readyz")) {
		bool ready = atomic_load(&ctx->ready);
		api_security_headers(x);
		net_respond(x, ready ? 200 : 503, "application/json",
			    ready ? "{\"status\":\"ready\"}" : "{\"status\":\"starting\"}",
			    ready ? 18 : 21);
	} else if (get && bw_str_eq_lit(r->path, "/metrics")) {
		api_metrics_respond(ctx, x);
	} else if (mount_dispatch(ctx, x)) {
		return;
	} else if (ctx->pre_route && ctx->pre_route(x, ctx->pre_route_arg)) {
		return;
	} else if (!api_dispatch(ctx, x)) {
		api_respond_error(x, 404, "not_found", "no such route");
	}
}
