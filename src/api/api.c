/*
 * Admin API routing, authentication with the bootstrap token, permission
 * declarations, audit of every state-changing call, health, readiness and
 * OpenMetrics. Handlers answer JSON; errors are {"error":{"code","message"}}.
 */
#include "api/api.h"
#include "json/json.h"

#include <openssl/sha.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define API_VERSION "0.1.0"
#define API_MAX_DETAILS 4096

struct api_call;
typedef void (*api_fn)(struct api_call *call);

struct api_route {
	enum http_method method;
	const char *path;       /* exact path under the admin listener */
	const char *permission; /* what the caller must hold */
	const char *action;     /* audit action for state-changing routes */
	bool mutating;
	api_fn fn;
};

struct api_call {
	struct net_exchange *x;
	struct api_ctx *ctx;
	const struct api_route *route;
	const char *actor_id;
	int status;
	struct bw_buf out;  /* response body */
	char target[128];   /* audit target */
	char details[API_MAX_DETAILS]; /* audit details (JSON object) */
};

/* ------------------------------------------------------------ helpers */

/* Responses are built in buffers sized far above what these routes write;
 * a writer failure is a bug worth a log line, not a reason to fail. */
static void finish_json(struct json_writer *w)
{
	if (json_writer_finish(w) < 0)
		log_warnx("api: JSON response truncated");
}

static const char *security_headers[][2] = {
	{ "Cache-Control", "no-store" },
	{ "X-Content-Type-Options", "nosniff" },
	{ "Strict-Transport-Security", "max-age=63072000" },
	{ "Referrer-Policy", "no-referrer" },
};

static void add_security_headers(struct net_exchange *x)
{
	for (size_t i = 0; i < BW_ARRAY_LEN(security_headers); i++)
		net_add_header(x, security_headers[i][0], security_headers[i][1]);
}

static void respond_json(struct net_exchange *x, int status, struct bw_buf *b)
{
	add_security_headers(x);
	net_respond(x, status, "application/json", b->data ? b->data : "", b->len);
}

static void respond_error(struct net_exchange *x, int status, const char *code,
			  const char *message)
{
	struct bw_buf b;
	bw_buf_init(&b, 4096);
	struct json_writer w;
	json_writer_init(&w, &b);
	json_write_object_begin(&w);
	json_write_key(&w, "error");
	json_write_object_begin(&w);
	json_write_kv_string(&w, "code", code);
	json_write_kv_string(&w, "message", message);
	json_write_kv_string(&w, "request_id", net_request_id(x));
	json_write_object_end(&w);
	json_write_object_end(&w);
	finish_json(&w);
	if (status == 401)
		net_add_header(x, "WWW-Authenticate", "Bearer realm=\"bulwark\"");
	respond_json(x, status, &b);
	bw_buf_fini(&b);
}

static void emit_auth_event(struct net_exchange *x, bool ok, const char *reason)
{
	struct bw_event ev;
	bw_event_init(&ev, "authentication", "api-authenticate",
		      ok ? BW_OUTCOME_SUCCESS : BW_OUTCOME_FAILURE);
	ev.severity = ok ? 0 : 3;
	BW_EVENT_SET(&ev, source_ip, net_peer_ip(x));
	BW_EVENT_SET(&ev, request_id, net_request_id(x));
	BW_EVENT_SET(&ev, tenant, "platform");
	if (ok)
		BW_EVENT_SET(&ev, user, "bootstrap");
	else
		bw_event_add_field(&ev, "reason", reason);
	(void)bw_event_emit(&ev);
}

/* Bearer token check: SHA-256 of the presented token compared in constant
 * time with the stored hash. Returns the actor id or NULL. */
static const char *authenticate(struct api_ctx *ctx, struct net_exchange *x,
				const char **reason)
{
	const struct http_request *r = net_request(x);
	const struct http_header *h =
		http_header_find(r->headers, r->nheaders, "authorization");
	*reason = "missing_credentials";
	if (!h)
		return NULL;
	struct bw_str v = h->value;
	if (v.len < 8 || !bw_str_caseeq_lit(bw_str_make(v.p, 7), "bearer "))
		return NULL;
	*reason = "bad_token";
	if (!ctx->have_token || v.len - 7 > 512)
		return NULL;
	uint8_t digest[SHA256_DIGEST_LENGTH];
	SHA256((const unsigned char *)v.p + 7, v.len - 7, digest);
	bool ok = bw_ct_equal(digest, sizeof(digest), ctx->token_hash,
			      sizeof(ctx->token_hash));
	bw_wipe(digest, sizeof(digest));
	return ok ? "bootstrap" : NULL;
}

/* Until the authorization engine exists the bootstrap administrator holds
 * every permission; the route table already names what each route needs
 * so the engine can take over without touching routes. */
static bool authorize(const char *actor, const char *permission)
{
	return actor && strcmp(actor, "bootstrap") == 0 && permission;
}

/* --------------------------------------------------------- audit glue */

struct audit_pending {
	struct api_call *call;
	struct loop *loop;
	int status;
	uint64_t seq;
	struct bw_err err;
};

static void call_free(struct api_call *call)
{
	bw_buf_fini(&call->out);
	free(call);
}

static void audit_done_on_loop(void *arg)
{
	struct audit_pending *p = arg;
	struct api_call *call = p->call;
	if (p->status != 0) {
		/* The action is not acknowledged if its audit record is not
		 * durable: the caller sees the failure. */
		log_warnx("audit append failed: %s", p->err.msg);
		respond_error(call->x, p->err.code == 503 ? 503 : 500,
			      "audit_unavailable", "the audit log refused the record");
	} else {
		char seq[32];
		bw_snprintf(seq, sizeof(seq), "%llu", (unsigned long long)p->seq);
		net_add_header(call->x, "X-Audit-Seq", seq);
		respond_json(call->x, call->status, &call->out);
	}
	call_free(call);
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

/* Records the call in the audit log and answers once it is durable. */
static void finish_audited(struct api_call *call, enum audit_outcome outcome)
{
	struct net_exchange *x = call->x;
	struct audit_pending *p = calloc(1, sizeof(*p));
	if (!p) {
		respond_error(x, 503, "overloaded", "out of memory");
		call_free(call);
		return;
	}
	p->call = call;
	p->loop = net_loop(x);
	const char *details = call->details[0] ? call->details : "{}";
	struct audit_record rec = {
		.actor = { .tenant = BW_STR("platform"),
			   .kind = call->actor_id ? AUDIT_ACTOR_USER :
						    AUDIT_ACTOR_SYSTEM,
			   .id = call->actor_id ?
					 bw_str_make(call->actor_id,
						     strlen(call->actor_id)) :
					 BW_STR("anonymous"),
			   .ip = bw_str_make(net_peer_ip(x), strlen(net_peer_ip(x))) },
		.action = bw_str_make(call->route->action, strlen(call->route->action)),
		.target = bw_str_make(call->target, strlen(call->target)),
		.outcome = outcome,
		.request_id = bw_str_make(net_request_id(x), strlen(net_request_id(x))),
		.details = bw_str_make(details, strlen(details)),
	};
	struct bw_err err;
	if (audit_append_async(call->ctx->audit, &rec, audit_done, p, &err) < 0) {
		free(p);
		respond_error(x, err.code == 503 ? 503 : 500, "audit_unavailable",
			      err.msg);
		call_free(call);
	}
}

/* ------------------------------------------------------------- routes */

static void write_status(struct api_call *call)
{
	struct json_writer w;
	json_writer_init(&w, &call->out);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "version", API_VERSION);
	json_write_kv_int(&w, "uptime_s", bw_clock_now_s() - call->ctx->started_s);
	json_write_kv_int(&w, "workers", call->ctx->workers);
	json_write_kv_int(&w, "config_generation",
			  (int64_t)atomic_load(&call->ctx->generation));
	uint64_t size;
	uint8_t root[AUDIT_HASH_LEN];
	audit_log_root(call->ctx->audit, &size, root);
	char hex[2 * AUDIT_HASH_LEN + 1];
	bw_hex_encode(root, sizeof(root), hex);
	json_write_key(&w, "audit");
	json_write_object_begin(&w);
	json_write_kv_int(&w, "tree_size", (int64_t)size);
	json_write_kv_string(&w, "root_hash", hex);
	json_write_object_end(&w);
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0)
		call->status = 500;
}

static void route_status(struct api_call *call)
{
	write_status(call);
	respond_json(call->x, call->status, &call->out);
	call_free(call);
}

/* POST /api/v1/audit/annotations {"message": "..."}: an operator's note in
 * the audit trail (maintenance windows, incident markers). */
static void route_annotate(struct api_call *call)
{
	struct bw_str body = net_request_body(call->x);
	struct bw_err err;
	struct json_value *v = json_parse(net_arena(call->x), body.p, body.len,
					  NULL, &err);
	const char *msg = v ? json_get_str(v, "message", NULL) : NULL;
	if (!msg || !*msg || strlen(msg) > 1024) {
		respond_error(call->x, 400, "bad_request",
			      v ? "body needs \"message\": a string of 1 to 1024 bytes" :
				  err.msg);
		call_free(call);
		return;
	}
	struct bw_buf d = { .data = call->details, .cap = sizeof(call->details),
			    .max = sizeof(call->details) - 1 };
	struct json_writer w;
	json_writer_init(&w, &d);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "message", msg);
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0) {
		respond_error(call->x, 400, "bad_request", "message too long");
		call_free(call);
		return;
	}
	bw_snprintf(call->target, sizeof(call->target), "audit");
	struct json_writer o;
	json_writer_init(&o, &call->out);
	json_write_object_begin(&o);
	json_write_kv_string(&o, "status", "recorded");
	json_write_object_end(&o);
	finish_json(&o);
	call->status = 201;
	finish_audited(call, AUDIT_OUTCOME_SUCCESS);
}

static void route_reload(struct api_call *call)
{
	bw_snprintf(call->target, sizeof(call->target), "config");
	int rc = call->ctx->request_reload ? call->ctx->request_reload() : -1;
	struct json_writer o;
	json_writer_init(&o, &call->out);
	json_write_object_begin(&o);
	json_write_kv_string(&o, "status", rc == 0 ? "reload requested" : "failed");
	json_write_object_end(&o);
	finish_json(&o);
	call->status = rc == 0 ? 202 : 500;
	finish_audited(call, rc == 0 ? AUDIT_OUTCOME_SUCCESS : AUDIT_OUTCOME_FAILURE);
}

static void route_sth(struct api_call *call)
{
	struct bw_err err;
	if (audit_log_request_sth(call->ctx->audit, &err) < 0) {
		respond_error(call->x, 500, "audit_unavailable", err.msg);
		call_free(call);
		return;
	}
	write_status(call);
	bw_snprintf(call->target, sizeof(call->target), "audit");
	finish_audited(call, AUDIT_OUTCOME_SUCCESS);
}

/* POST /api/v1/test/clock {"advance_s": N} or {"set_s": epoch} — only with
 * testing.clock_control, so time-dependent rules can be tested without
 * sleeping. */
static void route_clock(struct api_call *call)
{
	if (!call->ctx->clock_control) {
		respond_error(call->x, 404, "not_found", "no such route");
		call_free(call);
		return;
	}
	struct bw_str body = net_request_body(call->x);
	struct bw_err err;
	struct json_value *v = json_parse(net_arena(call->x), body.p, body.len,
					  NULL, &err);
	if (!v) {
		respond_error(call->x, 400, "bad_request", err.msg);
		call_free(call);
		return;
	}
	int64_t adv = json_get_int(v, "advance_s", 0);
	int64_t set = json_get_int(v, "set_s", 0);
	if (set > 0)
		bw_clock_set(set * 1000000000LL);
	if (adv)
		bw_clock_advance(adv * 1000000000LL);
	bw_snprintf(call->details, sizeof(call->details),
		    "{\"advance_s\":%lld,\"set_s\":%lld}", (long long)adv,
		    (long long)set);
	bw_snprintf(call->target, sizeof(call->target), "clock");
	struct json_writer o;
	json_writer_init(&o, &call->out);
	json_write_object_begin(&o);
	json_write_kv_int(&o, "now_s", bw_clock_now_s());
	json_write_object_end(&o);
	finish_json(&o);
	call->status = 200;
	finish_audited(call, AUDIT_OUTCOME_SUCCESS);
}

static const struct api_route routes[] = {
	{ HTTP_METHOD_GET, "/api/v1/status", "platform.system.read", NULL, false,
	  route_status },
	{ HTTP_METHOD_POST, "/api/v1/audit/annotations", "platform.audit.write",
	  "audit.annotate", true, route_annotate },
	{ HTTP_METHOD_POST, "/api/v1/audit/sth", "platform.audit.write",
	  "audit.sign_tree_head", true, route_sth },
	{ HTTP_METHOD_POST, "/api/v1/system/reload", "platform.system.manage",
	  "system.reload", true, route_reload },
	{ HTTP_METHOD_POST, "/api/v1/test/clock", "platform.system.manage",
	  "system.clock_set", true, route_clock },
};

static void api_v1(struct api_ctx *ctx, struct net_exchange *x)
{
	const struct http_request *r = net_request(x);
	const struct api_route *route = NULL;
	bool path_known = false;
	for (size_t i = 0; i < BW_ARRAY_LEN(routes); i++) {
		if (!bw_str_eq_lit(r->path, routes[i].path))
			continue;
		path_known = true;
		if (routes[i].method == r->method) {
			route = &routes[i];
			break;
		}
	}
	if (!route) {
		if (path_known)
			net_add_header(x, "Allow", "GET, POST");
		respond_error(x, path_known ? 405 : 404,
			      path_known ? "method_not_allowed" : "not_found",
			      path_known ? "method not allowed" : "no such route");
		return;
	}
	struct api_call *call = calloc(1, sizeof(*call));
	if (!call) {
		respond_error(x, 503, "overloaded", "out of memory");
		return;
	}
	call->x = x;
	call->ctx = ctx;
	call->route = route;
	call->status = 200;
	bw_buf_init(&call->out, 1 << 20);
	const char *reason;
	call->actor_id = authenticate(ctx, x, &reason);
	emit_auth_event(x, call->actor_id != NULL, reason);
	if (!call->actor_id || !authorize(call->actor_id, route->permission)) {
		int status = call->actor_id ? 403 : 401;
		net_set_outcome_reason(x, call->actor_id ? "forbidden" : reason);
		if (route->mutating) {
			/* Denied attempts at state changes are audited too. */
			struct json_writer w;
			json_writer_init(&w, &call->out);
			json_write_object_begin(&w);
			json_write_key(&w, "error");
			json_write_object_begin(&w);
			json_write_kv_string(&w, "code", status == 401 ?
						 "unauthenticated" : "forbidden");
			json_write_kv_string(&w, "message", status == 401 ?
						 "a valid bearer token is required" :
						 "permission denied");
			json_write_object_end(&w);
			json_write_object_end(&w);
			finish_json(&w);
			bw_snprintf(call->details, sizeof(call->details),
				    "{\"reason\":\"%s\"}",
				    call->actor_id ? "forbidden" : reason);
			bw_snprintf(call->target, sizeof(call->target), "%s",
				    route->path);
			call->status = status;
			if (status == 401)
				net_add_header(x, "WWW-Authenticate",
					       "Bearer realm=\"bulwark\"");
			finish_audited(call, AUDIT_OUTCOME_DENIED);
			return;
		}
		respond_error(x, status,
			      status == 401 ? "unauthenticated" : "forbidden",
			      status == 401 ? "a valid bearer token is required" :
					      "permission denied");
		call_free(call);
		return;
	}
	route->fn(call);
}

/* ------------------------------------------------------------- metrics */

static struct {
	_Atomic uint64_t auth_failures, auth_successes, web_rejected, other;
} ev_counts;

void api_metrics_subscriber(const struct bw_event *ev, void *arg)
{
	if (strcmp(ev->category, "authentication") == 0) {
		if (ev->outcome == BW_OUTCOME_FAILURE)
			atomic_fetch_add(&ev_counts.auth_failures, 1);
		else
			atomic_fetch_add(&ev_counts.auth_successes, 1);
	} else if (strcmp(ev->action, "http-request-rejected") == 0) {
		atomic_fetch_add(&ev_counts.web_rejected, 1);
	} else {
		atomic_fetch_add(&ev_counts.other, 1);
	}
}

static void metric_reason(const char *reason, uint64_t n, void *arg)
{
	struct bw_buf *b = arg;
	if (bw_buf_printf(b, "bulwark_http_rejections_total{reason=\"%s\"} %llu\n",
			  reason, (unsigned long long)n) < 0)
		log_warnx("metrics output truncated");
}

static void route_metrics(struct api_ctx *ctx, struct net_exchange *x)
{
	struct bw_buf b;
	bw_buf_init(&b, 1 << 20);
	struct net_stats s;
	net_stats_get(&s);
	struct bw_event_stats es;
	bw_event_stats(&es);
	struct audit_log_stats as;
	audit_log_stats(ctx->audit, &as);
	int rc = 0;
#define COUNTER(name, help, val)                                               \
	rc |= bw_buf_printf(&b, "# TYPE " name " counter\n# HELP " name " " help \
			    "\n" name "_total %llu\n", (unsigned long long)(val))
#define GAUGE(name, help, val)                                                 \
	rc |= bw_buf_printf(&b, "# TYPE " name " gauge\n# HELP " name " " help  \
			    "\n" name " %llu\n", (unsigned long long)(val))
	COUNTER("bulwark_connections_accepted", "TCP connections accepted.", s.accepted);
	COUNTER("bulwark_connections_refused", "Connections refused at the limit.",
		s.refused_conns);
	GAUGE("bulwark_connections_active", "Open connections.", s.active_conns);
	COUNTER("bulwark_tls_handshake_failures", "Failed TLS handshakes.",
		s.tls_handshake_failures);
	COUNTER("bulwark_http_timeouts", "Requests cut by a timeout.", s.timeouts);
	rc |= bw_buf_printf(&b, "# TYPE bulwark_http_responses counter\n"
			    "# HELP bulwark_http_responses HTTP responses by status class.\n");
	for (int i = 1; i < 6; i++)
		rc |= bw_buf_printf(&b, "bulwark_http_responses_total{class=\"%dxx\"} %llu\n",
				    i, (unsigned long long)s.responses_by_class[i]);
	rc |= bw_buf_printf(&b, "# TYPE bulwark_http_rejections counter\n"
			    "# HELP bulwark_http_rejections Requests refused by the HTTP codec, by reason.\n");
	net_stats_rejections(metric_reason, &b);
	rc |= bw_buf_printf(&b, "# TYPE bulwark_http_request_duration_seconds histogram\n"
			    "# HELP bulwark_http_request_duration_seconds Time from first byte to response.\n");
	uint64_t cum = 0;
	for (int i = 0; i < 11; i++) {
		cum += s.latency_buckets[i];
		rc |= bw_buf_printf(&b, "bulwark_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
				    net_latency_bounds_ms[i] / 1000.0,
				    (unsigned long long)cum);
	}
	cum += s.latency_buckets[11];
	rc |= bw_buf_printf(&b, "bulwark_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
			    "bulwark_http_request_duration_seconds_sum %.6f\n"
			    "bulwark_http_request_duration_seconds_count %llu\n",
			    (unsigned long long)cum, (double)s.latency_sum_us / 1e6,
			    (unsigned long long)cum);
	COUNTER("bulwark_events_emitted", "Events accepted by the event bus.", es.emitted);
	COUNTER("bulwark_events_refused", "Events refused (queue full).", es.refused);
	COUNTER("bulwark_auth_failures", "Failed API authentications.",
		atomic_load(&ev_counts.auth_failures));
	GAUGE("bulwark_audit_records", "Durable audit records (tree size).", as.records);
	COUNTER("bulwark_audit_refused", "Audit appends refused (queue full).",
		as.refused_full);
	GAUGE("bulwark_pool_queued", "Jobs waiting in the thread pool.",
	      tpool_queued(ctx->pool));
	COUNTER("bulwark_pool_refused", "Jobs refused by the thread pool.",
		tpool_refused(ctx->pool));
	rc |= bw_buf_append_str(&b, "# EOF\n");
#undef COUNTER
#undef GAUGE
	if (rc)
		log_warnx("metrics output truncated");
	net_respond(x, 200, "application/openmetrics-text; version=1.0.0; charset=utf-8",
		    b.data, b.len);
	bw_buf_fini(&b);
}

/* ------------------------------------------------------------ handlers */

void api_handle(struct net_exchange *x, void *arg)
{
	struct api_ctx *ctx = arg;
	const struct http_request *r = net_request(x);
	bool get = r->method == HTTP_METHOD_GET || r->method == HTTP_METHOD_HEAD;
	if (r->path.len >= 8 && memcmp(r->path.p, "/api/v1/", 8) == 0) {
		api_v1(ctx, x);
	} else if (get && bw_str_eq_lit(r->path, "/healthz")) {
		add_security_headers(x);
		net_respond(x, 200, "application/json", "{\"status\":\"ok\"}", 15);
	} else if (get && bw_str_eq_lit(r->path, "/readyz")) {
		bool ready = atomic_load(&ctx->ready);
		add_security_headers(x);
		net_respond(x, ready ? 200 : 503, "application/json",
			    ready ? "{\"status\":\"ready\"}" : "{\"status\":\"starting\"}",
			    ready ? 18 : 21);
	} else if (get && bw_str_eq_lit(r->path, "/metrics")) {
		route_metrics(ctx, x);
	} else {
		respond_error(x, 404, "not_found", "no such route");
	}
}

static const char demo_page[] =
	"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	"<title>bulwark gateway</title></head><body>"
	"<h1>bulwark gateway</h1><p>This listener will proxy your applications "
	"behind the WAF. Nothing is routed yet: this is the built-in demo page.</p>"
	"</body></html>\n";

void api_gateway_demo(struct net_exchange *x, void *arg)
{
	const struct http_request *r = net_request(x);
	if (r->method != HTTP_METHOD_GET && r->method != HTTP_METHOD_HEAD) {
		net_add_header(x, "Allow", "GET, HEAD");
		net_respond(x, 405, "text/plain", "method not allowed\n", 19);
		return;
	}
	if (bw_str_eq_lit(r->path, "/") || bw_str_eq_lit(r->path, "/index.html")) {
		net_add_header(x, "X-Content-Type-Options", "nosniff");
		net_respond(x, 200, "text/html; charset=utf-8", demo_page,
			    sizeof(demo_page) - 1);
		return;
	}
	net_respond(x, 404, "text/plain", "not found\n", 10);
}

/* -------------------------------------------------------------- tokens */

int api_load_token_hash(struct api_ctx *ctx, const char *data_dir,
			struct bw_err *err)
{
	char path[4096];
	if (bw_snprintf(path, sizeof(path), "%s/bootstrap-token.sha256", data_dir) < 0)
		return bw_err_set(err, 400, "api", "path", "path too long");
	size_t len;
	char *hex = bw_file_read(path, 256, &len, err);
	if (!hex)
		return -1;
	while (len && (hex[len - 1] == '\n' || hex[len - 1] == ' '))
		len--;
	size_t n;
	int rc = bw_hex_decode(hex, len, ctx->token_hash, sizeof(ctx->token_hash), &n);
	free(hex);
	if (rc < 0 || n != API_TOKEN_HASH_LEN)
		return bw_err_set(err, 400, "api", "bad_token_hash",
				  "%s: not a SHA-256 hex digest", path);
	ctx->have_token = true;
	return 0;
}

int api_create_token(const char *data_dir, char token[64], struct bw_err *err)
{
	/* 32 random bytes, base64url without padding: 43 characters; the
	 * "bwt_" prefix makes leaked tokens easy to find with scanners. */
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	uint8_t raw[33];
	bw_random(raw, 32);
	raw[32] = 0;
	memcpy(token, "bwt_", 4);
	size_t o = 4;
	for (size_t i = 0; i < 33; i += 3) {
		uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 |
			     raw[i + 2];
		token[o++] = b64[(v >> 18) & 63];
		token[o++] = b64[(v >> 12) & 63];
		token[o++] = b64[(v >> 6) & 63];
		if (o < 47)
			token[o++] = b64[v & 63];
	}
	token[o] = '\0';
	bw_wipe(raw, sizeof(raw));

	uint8_t digest[SHA256_DIGEST_LENGTH];
	SHA256((const unsigned char *)token, strlen(token), digest);
	char hex[2 * SHA256_DIGEST_LENGTH + 2];
	bw_hex_encode(digest, sizeof(digest), hex);
	size_t hl = strlen(hex);
	hex[hl] = '\n';
	char path[4096];
	int rc = -1;
	if (bw_snprintf(path, sizeof(path), "%s/bootstrap-token.sha256", data_dir) < 0) {
		bw_err_set(err, 400, "api", "path", "path too long");
		goto out;
	}
	if (bw_file_write_atomic(path, hex, hl + 1, 0600, err) < 0)
		goto out;
	if (bw_snprintf(path, sizeof(path), "%s/bootstrap-token", data_dir) < 0)
		goto out;
	char line[80];
	int n = bw_snprintf(line, sizeof(line), "%s\n", token);
	rc = n < 0 ? -1 : bw_file_write_atomic(path, line, (size_t)n, 0600, err);
	bw_wipe(line, sizeof(line));
out:
	bw_wipe(digest, sizeof(digest));
	return rc;
}
