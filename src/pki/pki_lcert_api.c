/*
 * pki_lcert_api.c — admin routes of the listener-certificate manager:
 * the served certificates with their expiry, source, renewals and staple
 * (GET /api/v1/pki/listener-certs) and an immediate renewal
 * (POST /api/v1/pki/listener-certs/{listener}/renew, audited). Both are
 * quick (a copy under the manager's lock; the renewal itself runs on the
 * manager's thread), so they answer on the loop thread.
 */
#include "pki/pki_lcert_int.h"
#include "api/api.h"
#include "json/json.h"

static struct pki_lcert *g_lcert;

static void route_list(struct api_call *call)
{
	if (!g_lcert) {
		api_fail(call, 503, "unavailable", "listener certificates are not managed");
		return;
	}
	struct json_writer w;
	json_writer_init(&w, api_out(call));
	if (pki_lcert_status(g_lcert, &w) < 0 || json_writer_finish(&w) < 0) {
		api_fail(call, 500, "too_large", "response too large");
		return;
	}
	api_reply(call, 200);
}

static void route_renew(struct api_call *call)
{
	const char *l = api_param(call, "listener");
	struct bw_err err;
	if (!g_lcert) {
		api_fail(call, 503, "unavailable", "listener certificates are not managed");
		return;
	}
	api_set_target(call, l);
	if (pki_lcert_renew(g_lcert, l, &err) < 0) {
		api_fail(call, err.code, err.reason, err.msg);
		return;
	}
	struct json_writer w;
	json_writer_init(&w, api_out(call));
	json_write_object_begin(&w);
	json_write_kv_string(&w, "listener", l);
	json_write_kv_string(&w, "status", "renewal started");
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0) {
		api_fail(call, 500, "too_large", "response too large");
		return;
	}
	api_reply_audited(call, 202, AUDIT_OUTCOME_SUCCESS);
}

static const struct api_route routes[] = {
	{ HTTP_METHOD_GET, "/api/v1/pki/listener-certs", "pki.ca.read", NULL, false,
	  route_list },
	{ HTTP_METHOD_POST, "/api/v1/pki/listener-certs/{listener}/renew", "pki.ca.manage",
	  "pki.listener_cert.renew", true, route_renew },
};

int pki_lcert_api_register(struct pki_lcert *m)
{
	g_lcert = m;
	return api_register(routes, BW_ARRAY_LEN(routes));
}
