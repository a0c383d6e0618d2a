/*
 * The platform's own admin routes: status, audit annotations and signed
 * tree heads, reload, and the test clock (only with testing.clock_control).
 */
#include "api/api_int.h"

#include <stdatomic.h>
#include <string.h>

static void write_status(struct api_call *call)
{
	struct api_ctx *ctx = api_context(call);
	struct json_writer w;
	json_writer_init(&w, api_out(call));
	json_write_object_begin(&w);
	json_write_kv_string(&w, "version", BULWARK_VERSION);
	json_write_kv_int(&w, "uptime_s", bw_clock_now_s() - ctx->started_s);
	json_write_kv_int(&w, "workers", ctx->workers);
	json_write_kv_int(&w, "config_generation",
			  (int64_t)atomic_load(&ctx->generation));
	uint64_t size;
	uint8_t root[AUDIT_HASH_LEN];
	audit_log_root(ctx->audit, &size, root);
	char hex[2 * AUDIT_HASH_LEN + 1];
	bw_hex_encode(root, sizeof(root), hex);
	json_write_key(&w, "audit");
	json_write_object_begin(&w);
	json_write_kv_int(&w, "tree_size", (int64_t)size);
	json_write_kv_string(&w, "root_hash", hex);
	json_write_object_end(&w);
	json_write_object_end(&w);
	api_finish_json(&w);
}

static void route_status(struct api_call *call)
{
	write_status(call);
	api_reply(call, 200);
}

/* POST /api/v1/audit/annotations {"message": "..."}: an operator's note in
 * the audit trail (maintenance windows, incident markers). */
static void route_annotate(struct api_call *call)
{
	struct bw_err err;
	const struct json_value *v = api_body_json(call, &err);
	const char *msg = v ? json_get_str(v, "message", NULL) : NULL;
	api_set_target(call, "audit");
	if (!msg || !*msg || strlen(msg) > 1024) {
		api_fail(call, 400, "bad_request",
			 v ? "body needs \"message\": a string of 1 to 1024 bytes" :
			     err.msg);
		return;
	}
	struct bw_buf d;
	bw_buf_init(&d, API_MAX_DETAILS - 1);
	struct json_writer w;
	json_writer_init(&w, &d);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "message", msg);
	json_write_object_end(&w);
	int rc = json_writer_finish(&w);
	if (rc == 0)
		api_set_details(call, d.data);
	bw_buf_fini(&d);
	if (rc < 0) {
		api_fail(call, 400, "bad_request", "message too long");
		return;
	}
	struct json_writer o;
	json_writer_init(&o, api_out(call));
	json_write_object_begin(&o);
	json_write_kv_string(&o, "status", "recorded");
	json_write_object_end(&o);
	api_finish_json(&o);
	api_reply_audited(call, 201, AUDIT_OUTCOME_SUCCESS);
}

static void route_reload(struct api_call *call)
{
	struct api_ctx *ctx = api_context(call);
	api_set_target(call, "config");
	if (!ctx->request_reload || ctx->request_reload() < 0) {
		api_fail(call, 500, "reload_failed", "the supervisor could not be asked");
		return;
	}
	struct json_writer o;
	json_writer_init(&o, api_out(call));
	json_write_object_begin(&o);
	json_write_kv_string(&o, "status", "reload requested");
	json_write_object_end(&o);
	api_finish_json(&o);
	api_reply_audited(call, 202, AUDIT_OUTCOME_SUCCESS);
}

static void route_sth(struct api_call *call)
{
	struct bw_err err;
	api_set_target(call, "audit");
	if (audit_log_request_sth(api_context(call)->audit, &err) < 0) {
		api_fail(call, 500, "audit_unavailable", err.msg);
		return;
	}
	write_status(call);
	api_reply_audited(call, 202, AUDIT_OUTCOME_SUCCESS);
}

/* POST /api/v1/test/clock {"advance_s": N} or {"set_s": epoch}: only with
 * testing.clock_control, so time-dependent rules can be tested end to end
 * without sleeping. */
static void route_clock(struct api_call *call)
{
	if (!api_context(call)->clock_control) {
		api_fail(call, 404, "not_found", "no such route");
		return;
	}
	struct bw_err err;
	const struct json_value *v = api_body_json(call, &err);
	if (!v) {
		api_fail(call, 400, "bad_request", err.msg);
		return;
	}
	int64_t adv = json_get_int(v, "advance_s", 0);
	int64_t set = json_get_int(v, "set_s", 0);
	if (set > 0)
		bw_clock_set(set * 1000000000LL);
	if (adv)
		bw_clock_advance(adv * 1000000000LL);
	char details[96];
	bw_snprintf(details, sizeof(details), "{\"advance_s\":%lld,\"set_s\":%lld}",
		    (long long)adv, (long long)set);
	api_set_details(call, details);
	api_set_target(call, "clock");
	struct json_writer o;
	json_writer_init(&o, api_out(call));
	json_write_object_begin(&o);
	json_write_kv_int(&o, "now_s", bw_clock_now_s());
	json_write_object_end(&o);
	api_finish_json(&o);
	api_reply_audited(call, 200, AUDIT_OUTCOME_SUCCESS);
}

static const struct api_route system_routes[] = {
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

int api_system_register(void)
{
	return api_register(system_routes, BW_ARRAY_LEN(system_routes));
}
