/*
 * waf_api.c — admin REST routes over the explain ring (waf_explain.c).
 * Read-only, so not audited; the permission is waf.rule.manage because
 * the documents quote request values (see waf_api.h).
 */
#include "waf/waf_api.h"
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

static const struct api_route routes[] = {
	{ HTTP_METHOD_GET, "/api/v1/waf/explain", "waf.rule.manage", NULL, false,
	  route_explain_list },
	{ HTTP_METHOD_GET, "/api/v1/waf/explain/{id}", "waf.rule.manage", NULL, false,
	  route_explain_get },
};

int waf_api_register(void)
{
	return api_register(routes, BW_ARRAY_LEN(routes));
}
