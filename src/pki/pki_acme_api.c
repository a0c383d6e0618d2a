/*
 * pki_acme_api.c — the ACME server's admin REST routes under
 * /api/v1/pki/acme: the tenant's directory configuration (which CA
 * issues, whether external account binding is required, validity),
 * external account binding keys (create — the HMAC key is shown once —,
 * list, delete) and accounts (list, deactivate).
 *
 * Like pki_api.c: input is read on the loop thread, the store work runs
 * on the thread pool, and every state change ends with
 * api_reply_audited (or api_fail, which the api layer audits). Audit
 * details carry key ids and account ids, never HMAC keys.
 *
 * One struct pki_acme per process: the routes are static tables, so
 * pki_acme_api_register keeps the pointer in a file-scope variable.
 */
#include "pki/pki_acme_int.h"

#include <string.h>

#include "api/api.h"
#include "loop/loop.h"
#include "store/store.h"

static struct pki_acme *g_acme;

struct job {
	struct api_call *call;
	const char *tenant;
	const char *param;
	const struct json_value *body;
	void (*work)(struct job *j);
	bool mutating;
	int status;
	int rc;
	struct bw_err err;
	char details[256];
};

static void job_done(void *arg)
{
	struct job *j = arg;
	struct api_call *call = j->call;
	if (j->details[0])
		api_set_details(call, j->details);
	if (j->rc < 0) {
		int st = j->err.code;
		if (st != 400 && st != 403 && st != 404 && st != 409 && st != 413)
			st = 500;
		if (st == 500)
			log_warnx("pki acme api: %s", j->err.msg);
		api_fail(call, st, j->err.reason[0] ? j->err.reason : "error",
			 st == 500 ? "internal error" : j->err.msg);
	} else if (j->mutating) {
		api_reply_audited(call, j->status, AUDIT_OUTCOME_SUCCESS);
	} else {
		api_reply(call, j->status);
	}
	free(j);
}

static void job_work(void *arg)
{
	struct job *j = arg;
	j->work(j);
}

static void run(struct api_call *call, void (*work)(struct job *), bool mutating,
		int status, bool with_body)
{
	const struct json_value *body = NULL;
	if (with_body) {
		struct bw_err err;
		body = api_body_json(call, &err);
		if (!body || body->type != JSON_OBJECT) {
			api_fail(call, 400, "bad_request",
				 body ? "body must be a JSON object" : err.msg);
			return;
		}
	}
	struct job *j = calloc(1, sizeof(*j));
	if (!j || !g_acme) {
		free(j);
		api_fail(call, 503, "unavailable", "the ACME server is not available");
		return;
	}
	j->call = call;
	j->tenant = api_tenant(call) ? api_tenant(call) : "platform";
	j->param = api_param(call, "id");
	j->body = body;
	j->work = work;
	j->mutating = mutating;
	j->status = status;
	if (j->param)
		api_set_target(call, j->param);
	struct api_ctx *ctx = api_context(call);
	if (!ctx || !ctx->pool) {
		job_work(j);
		job_done(j);
		return;
	}
	if (tpool_submit(ctx->pool, job_work, job_done, j, api_loop(call)) < 0) {
		free(j);
		api_fail(call, 503, "overloaded", "the thread pool is full");
	}
}

static int jfail(struct job *j, int code, const char *reason, const char *msg)
{
	j->rc = bw_err_set(&j->err, code, PKI_MOD, reason, "%s", msg);
	return -1;
}

static void finish(struct job *j, struct json_writer *w)
{
	if (json_writer_finish(w) < 0)
		jfail(j, 500, "too_large", "response too large");
}

/* ------------------------------------------------------------- config */

static void write_cfg(struct job *j, const struct pki_acme_tenant *cfg)
{
	struct json_writer w;
	json_writer_init(&w, api_out(j->call));
	json_write_object_begin(&w);
	json_write_kv_string(&w, "tenant", j->tenant);
	json_write_kv_string(&w, "ca_id", cfg->ca_id);
	json_write_kv_bool(&w, "eab_required", cfg->eab_required);
	json_write_kv_int(&w, "validity_s", cfg->validity_s);
	json_write_kv_bool(&w, "enabled", cfg->enabled);
	char path[PKI_TENANT_MAX + 32];
	bw_snprintf(path, sizeof(path), "/acme/%s/directory", j->tenant);
	if (g_acme->base_url[0]) {
		char full[PKI_ACME_BASE_URL_MAX + sizeof(path)];
		bw_snprintf(full, sizeof(full), "%s%s", g_acme->base_url, path);
		json_write_kv_string(&w, "directory", full);
	} else {
		json_write_kv_string(&w, "directory_path", path);
	}
	json_write_object_end(&w);
	finish(j, &w);
}

static void w_cfg_get(struct job *j)
{
	struct pki_acme_tenant cfg;
	j->rc = pki_acme_tenant_get(g_acme, j->tenant, &cfg, &j->err);
	if (j->rc == 0)
		write_cfg(j, &cfg);
}

static void w_cfg_set(struct job *j)
{
	struct pki_acme_tenant cfg = { .enabled = true };
	const struct json_value *b = j->body;
	for (size_t i = 0; i < b->u.obj.n; i++) {
		struct bw_str k = b->u.obj.members[i].key;
		if (!bw_str_eq_lit(k, "ca_id") && !bw_str_eq_lit(k, "eab_required") &&
		    !bw_str_eq_lit(k, "validity_s") && !bw_str_eq_lit(k, "enabled")) {
			jfail(j, 400, "unknown_key", "unknown member");
			return;
		}
	}
	const struct json_value *ca = json_get(b, "ca_id");
	if (!ca || ca->type != JSON_STRING || ca->u.str.len >= sizeof(cfg.ca_id)) {
		jfail(j, 400, "ca_id", "ca_id is required");
		return;
	}
	memcpy(cfg.ca_id, ca->u.str.p, ca->u.str.len);
	const struct json_value *v = json_get(b, "eab_required");
	if (v && v->type != JSON_TRUE && v->type != JSON_FALSE) {
		jfail(j, 400, "eab_required", "eab_required is a boolean");
		return;
	}
	cfg.eab_required = v && v->type == JSON_TRUE;
	v = json_get(b, "enabled");
	if (v && v->type != JSON_TRUE && v->type != JSON_FALSE) {
		jfail(j, 400, "enabled", "enabled is a boolean");
		return;
	}
	cfg.enabled = !v || v->type == JSON_TRUE;
	v = json_get(b, "validity_s");
	if (v && (v->type != JSON_NUMBER || !v->u.num.is_int)) {
		jfail(j, 400, "validity_s", "validity_s is an integer");
		return;
	}
	cfg.validity_s = v ? v->u.num.i : 0;
	bw_snprintf(j->details, sizeof(j->details),
		    "{\"ca_id\":\"%s\",\"eab_required\":%s,\"enabled\":%s}", cfg.ca_id,
		    cfg.eab_required ? "true" : "false", cfg.enabled ? "true" : "false");
	j->rc = pki_acme_tenant_set(g_acme, j->tenant, &cfg, &j->err);
	if (j->rc == 0)
		write_cfg(j, &cfg);
}

/* ------------------------------------------------------------- EAB */

static void w_eab_create(struct job *j)
{
	const struct json_value *l = json_get(j->body, "label");
	char label[129] = "";
	if (l && (l->type != JSON_STRING || l->u.str.len >= sizeof(label) ||
		  memchr(l->u.str.p, '\0', l->u.str.len))) {
		jfail(j, 400, "label", "label is a string of at most 128 bytes");
		return;
	}
	if (l)
		memcpy(label, l->u.str.p, l->u.str.len);
	char kid[32], hmac[48];
	uint8_t key[PKI_ACME_EAB_KEY_LEN];
	j->rc = pki_acme_eab_create(g_acme, j->tenant, label, kid, key, &j->err);
	if (j->rc < 0)
		return;
	crypto_b64url_encode_to(key, sizeof(key), hmac);
	bw_wipe(key, sizeof(key));
	bw_snprintf(j->details, sizeof(j->details), "{\"kid\":\"%s\"}", kid);
	api_set_target(j->call, kid);
	struct json_writer w;
	json_writer_init(&w, api_out(j->call));
	json_write_object_begin(&w);
	json_write_kv_string(&w, "kid", kid);
	/* shown once: the store keeps it sealed (or only until used) */
	json_write_kv_string(&w, "hmac_key", hmac);
	json_write_kv_string(&w, "alg", "HS256");
	json_write_kv_string(&w, "label", label);
	json_write_object_end(&w);
	bw_wipe(hmac, sizeof(hmac));
	finish(j, &w);
}

static int eab_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct json_writer *w = arg;
	json_write_object_begin(w);
	struct bw_str s = store_row_text(row, 0);
	json_write_key(w, "kid");
	json_write_stringn(w, s.p, s.len);
	s = store_row_text(row, 1);
	json_write_key(w, "label");
	json_write_stringn(w, s.p, s.len);
	json_write_kv_int(w, "created", store_row_int64(row, 2));
	json_write_kv_bool(w, "used", !store_row_is_null(row, 3));
	if (!store_row_is_null(row, 3)) {
		s = store_row_text(row, 3);
		json_write_key(w, "account_id");
		json_write_stringn(w, s.p, s.len);
		json_write_kv_int(w, "used_at", store_row_int64(row, 4));
	}
	json_write_object_end(w);
	return STORE_ROW_NEXT;
}

static void w_eab_list(struct job *j)
{
	struct json_writer w;
	json_writer_init(&w, api_out(j->call));
	json_write_object_begin(&w);
	json_write_key(&w, "keys");
	json_write_array_begin(&w);
	struct store_value v[] = { store_text_str(j->tenant), store_int(PKI_LIST_MAX) };
	j->rc = store_query(g_acme->st, "SELECT kid, label, created, account_id, used_at"
			    " FROM pki_acme_eab WHERE tenant = ? ORDER BY created DESC, kid"
			    " LIMIT ?", v, 2, eab_row, &w, &j->err);
	json_write_array_end(&w);
	json_write_object_end(&w);
	if (j->rc == 0)
		finish(j, &w);
}

static void w_eab_delete(struct job *j)
{
	if (!j->param || strlen(j->param) != PKI_ACME_EAB_KID_LEN ||
	    !acme_id_ok(j->param, PKI_ACME_EAB_KID_LEN)) {
		jfail(j, 404, "not_found", "no such EAB key");
		return;
	}
	bw_snprintf(j->details, sizeof(j->details), "{\"kid\":\"%s\"}", j->param);
	j->rc = pki_acme_eab_delete(g_acme, j->tenant, j->param, &j->err);
	if (j->rc == 0) {
		struct json_writer w;
		json_writer_init(&w, api_out(j->call));
		json_write_object_begin(&w);
		json_write_kv_string(&w, "deleted", j->param);
		json_write_object_end(&w);
		finish(j, &w);
	}
}

/* ------------------------------------------------------------- accounts */

static int account_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct json_writer *w = arg;
	struct bw_arena *a = bw_arena_new(4096, 1 << 16);
	json_write_object_begin(w);
	const char *keys[] = { "id", "thumbprint", "status" };
	for (int i = 0; i < 3; i++) {
		struct bw_str s = store_row_text(row, i);
		json_write_key(w, keys[i]);
		json_write_stringn(w, s.p, s.len);
	}
	struct bw_str c = store_row_text(row, 3);
	struct bw_err e;
	const struct json_value *v = a ? json_parse(a, c.p, c.len, NULL, &e) : NULL;
	json_write_key(w, "contact");
	if (v)
		json_write_value(w, v);
	else
		json_write_null(w);
	if (!store_row_is_null(row, 4)) {
		struct bw_str k = store_row_text(row, 4);
		json_write_key(w, "eab_kid");
		json_write_stringn(w, k.p, k.len);
	}
	json_write_kv_int(w, "created", store_row_int64(row, 5));
	json_write_object_end(w);
	bw_arena_free(a);
	return STORE_ROW_NEXT;
}

static void w_accounts(struct job *j)
{
	struct json_writer w;
	json_writer_init(&w, api_out(j->call));
	json_write_object_begin(&w);
	json_write_key(&w, "accounts");
	json_write_array_begin(&w);
	struct store_value v[] = { store_text_str(j->tenant), store_int(PKI_LIST_MAX) };
	j->rc = store_query(g_acme->st, "SELECT id, thumb, status, contact, eab_kid, created"
			    " FROM pki_acme_account WHERE tenant = ? ORDER BY created, id"
			    " LIMIT ?", v, 2, account_row, &w, &j->err);
	json_write_array_end(&w);
	json_write_object_end(&w);
	if (j->rc == 0)
		finish(j, &w);
}

static void w_account_deactivate(struct job *j)
{
	struct acme_account ac;
	if (!j->param || strlen(j->param) != PKI_ACME_ID_LEN ||
	    !acme_id_ok(j->param, PKI_ACME_ID_LEN)) {
		jfail(j, 404, "not_found", "no such account");
		return;
	}
	int f = acme_db_account_get(g_acme, j->tenant, j->param, &ac, &j->err);
	if (f <= 0) {
		if (f == 0)
			jfail(j, 404, "not_found", "no such account");
		else
			j->rc = -1;
		return;
	}
	bw_snprintf(j->details, sizeof(j->details), "{\"account\":\"%s\",\"was\":\"%s\"}",
		    ac.id, acme_status_name(ac.status));
	ac.status = ACME_ST_DEACTIVATED;
	j->rc = acme_db_account_update(g_acme, &ac, &j->err);
	acme_account_fini(&ac);
	if (j->rc == 0) {
		pki_emit("acme-account-deactivated", j->tenant, true,
			 "ACME account deactivated by an administrator", "account", j->param,
			 NULL, NULL);
		struct json_writer w;
		json_writer_init(&w, api_out(j->call));
		json_write_object_begin(&w);
		json_write_kv_string(&w, "id", j->param);
		json_write_kv_string(&w, "status", "deactivated");
		json_write_object_end(&w);
		finish(j, &w);
	}
}

static void r_cfg_get(struct api_call *c) { run(c, w_cfg_get, false, 200, false); }
static void r_cfg_set(struct api_call *c) { run(c, w_cfg_set, true, 200, true); }
static void r_eab_list(struct api_call *c) { run(c, w_eab_list, false, 200, false); }
static void r_eab_create(struct api_call *c) { run(c, w_eab_create, true, 201, true); }
static void r_eab_delete(struct api_call *c) { run(c, w_eab_delete, true, 200, false); }
static void r_accounts(struct api_call *c) { run(c, w_accounts, false, 200, false); }
static void r_deactivate(struct api_call *c) { run(c, w_account_deactivate, true, 200, false); }

static const struct api_route routes[] = {
	{ HTTP_METHOD_GET, "/api/v1/pki/acme", "pki.ca.read", NULL, false, r_cfg_get },
	{ HTTP_METHOD_PUT, "/api/v1/pki/acme", "pki.ca.manage", "pki.acme.configure", true,
	  r_cfg_set },
	{ HTTP_METHOD_GET, "/api/v1/pki/acme/eab", "pki.ca.read", NULL, false, r_eab_list },
	{ HTTP_METHOD_POST, "/api/v1/pki/acme/eab", "pki.ca.manage", "pki.acme.eab.create",
	  true, r_eab_create },
	{ HTTP_METHOD_DELETE, "/api/v1/pki/acme/eab/{id}", "pki.ca.manage",
	  "pki.acme.eab.delete", true, r_eab_delete },
	{ HTTP_METHOD_GET, "/api/v1/pki/acme/accounts", "pki.cert.read", NULL, false,
	  r_accounts },
	{ HTTP_METHOD_POST, "/api/v1/pki/acme/accounts/{id}/deactivate", "pki.ca.manage",
	  "pki.acme.account.deactivate", true, r_deactivate },
};

int pki_acme_api_register(struct pki_acme *a)
{
	g_acme = a;
	return api_register(routes, BW_ARRAY_LEN(routes));
}
