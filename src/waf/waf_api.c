/*
 * waf_api.c — admin REST routes over the explain ring (waf_explain.c).
 * Read-only, so not audited; the explain routes need waf.rule.manage
 * because the documents quote request values (see waf_api.h).
 */
#include "waf/waf_api.h"
#include "json/json.h"
#include "api/api.h"
#include "waf/waf.h"
#include "waf/waf_limits.h"

#include <string.h>

/* The list answers this many summaries: enough to find a request by eye,
 * small enough for one screen of JSON. */
#define WAF_API_LIST_MAX 100

static void route_explain_list(struct api_call *c)
{
	struct bw_buf *out = api_out(c);
	if (bw_buf_append_str(out, "{\"transactions\":") < 0 ||
	    waf_explain_list(WAF_API_LIST_MAX, out) < 0 ||
	    bw_buf_append_byte(out, '}') < 0) {
		api_fail(c, 500, "too_large", "explain list does not fit");
		return;
	}
	api_reply(c, 200);
}

static void route_explain_get(struct api_call *c)
{
	const char *id = api_param(c, "id");
	/* Request ids are short tokens; anything longer is not one of ours. */
	if (!id || strlen(id) >= 64) {
		api_fail(c, 400, "bad_request", "request id missing or too long");
		return;
	}
	int rc = waf_explain_get(id, api_out(c));
	if (rc == 0) {
		api_fail(c, 404, "not_found",
			 "no WAF detection recorded for this request id (not "
			 "flagged, or older than the explain ring)");
		return;
	}
	if (rc < 0) {
		api_fail(c, 500, "too_large", "explain document does not fit");
		return;
	}
	api_reply(c, 200);
}

/* The JSON audit log's counters (entries written, dropped because the
 * queue was full, transactions not relevant) and the explain ring's fill. */
static void route_stats(struct api_call *c)
{
	struct waf_audit_stats st;
	waf_audit_stats_total(&st);
	size_t n, cap;
	waf_explain_size(&n, &cap);
	struct json_writer w;
	json_writer_init(&w, api_out(c));
	json_write_object_begin(&w);
	json_write_key(&w, "audit_log");
	json_write_object_begin(&w);
	json_write_key(&w, "written");
	json_write_uint(&w, st.written);
	json_write_key(&w, "dropped");
	json_write_uint(&w, st.dropped);
	json_write_key(&w, "not_relevant");
	json_write_uint(&w, st.skipped);
	json_write_object_end(&w);
	json_write_key(&w, "explain");
	json_write_object_begin(&w);
	json_write_key(&w, "entries");
	json_write_uint(&w, n);
	json_write_key(&w, "capacity");
	json_write_uint(&w, cap);
	json_write_object_end(&w);
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0) {
		api_fail(c, 500, "too_large", "stats do not fit");
		return;
	}
	api_reply(c, 200);
}

static const struct api_route routes[] = {
	{ HTTP_METHOD_GET, "/api/v1/waf/stats", "waf.rule.read", NULL, false,
	  route_stats },
	{ HTTP_METHOD_GET, "/api/v1/waf/explain", "waf.rule.manage", NULL, false,
	  route_explain_list },
	{ HTTP_METHOD_GET, "/api/v1/waf/explain/{id}", "waf.rule.manage", NULL, false,
	  route_explain_get },
};

int waf_api_register(void)
{
	return api_register(routes, BW_ARRAY_LEN(routes));
}
