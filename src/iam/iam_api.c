/*
 * The identity REST routes under /api/v1/iam (registered with the admin
 * API by iam_api_register): tenants, users, groups and membership,
 * password reset and change, unlock, login (password, MFA step, forced
 * change), TOTP enrolment, security keys, MFA-required groups and roles,
 * sessions, API keys, and the caller's own step-up.
 *
 * Routes flagged R_STEPUP are the sensitive ones (destructive or
 * privilege-changing): the admin API refuses them to a session whose last
 * strong authentication is older than the tenant's step-up window
 * (iam_stepup.c) until it POSTs /api/v1/iam/self/step-up.
 *
 * Shape: every route is a struct route_spec — path, permission, audit
 * action, access flags and a handler. A handler is a plain function over
 * a struct iam_req (caller, path parameters, parsed body, output buffer,
 * outcome); it blocks (store, Argon2id), so the glue runs it on the
 * thread pool and ends the API call from the completion on the loop.
 * Keeping handlers free of api_call plumbing lets the unit tests drive
 * every route directly, including the tenant isolation matrix.
 *
 * Invariants:
 *  - tenant isolation: a route naming {tenant} is refused (403) unless
 *    the caller belongs to that tenant or to the platform tenant; ids in
 *    the path are then only ever looked up inside that tenant;
 *  - secrets (session tokens, challenges, API keys, TOTP secrets,
 *    recovery codes) appear only in response bodies, never in audit
 *    details, targets or logs;
 *  - errors from the store (>= 500) reach the client as a generic
 *    message; the detail goes to the operator log once.
 */
#include "iam/iam_int.h"
#include "api/api.h"
#include "crypto/crypto.h"
#include "json/json.h"

#include <stdlib.h>
#include <string.h>

/* Set once by iam_api_register; routes are process-wide like the api's
 * own route table. */
static struct iam *api_iam;

enum {
	R_TENANT = 1u << 0,   /* path has {tenant}: isolation check */
	R_PLATFORM = 1u << 1, /* platform tenant callers only */
	R_SELF = 1u << 2,     /* acts on the caller's own user */
	R_PUBLIC = 1u << 3,   /* no caller (login) */
	R_BODY = 1u << 4,     /* needs a JSON object body */
	R_HASH = 1u << 5,     /* runs Argon2id: the identity's hashing pool */
	R_STEPUP = 1u << 6,   /* sensitive: sessions need a recent step-up */
};

struct iam_req {
	struct iam *iam;
	const char *caller_tenant, *caller_id, *caller_ip;
	const char *caller_session; /* the caller's session handle, or NULL */
	struct bw_str host;	    /* Host header (WebAuthn origin and RP) */
	bool tls;
	const char *tenant, *user, *group, *key, *session, *client, *provider;
	const char *role;
	const struct json_value *body;
	struct bw_buf *out;
	int status;
	bool failed;
	char code[48];
	char message[200];
	char target[160];
	char details[512];
	int64_t retry_after;
};

typedef void (*iam_handler)(struct iam_req *r);

struct route_spec {
	enum http_method method;
	const char *path;
	const char *permission;
	const char *action; /* NULL: read-only */
	unsigned flags;
	iam_handler fn;
};

/* ------------------------------------------------------------- helpers */

static void req_fail(struct iam_req *r, int status, const char *code,
		     const char *msg)
{
	r->failed = true;
	r->status = status;
	bw_snprintf(r->code, sizeof(r->code), "%s", code);
	if (bw_snprintf(r->message, sizeof(r->message), "%s", msg) < 0)
		r->message[sizeof(r->message) - 1] = 0;
}

/* Maps a module error to an answer; internal detail stays in the log. */
static void fail_err(struct iam_req *r, const struct bw_err *err)
{
	int c = err->code;
	if (c == 400 || c == 401 || c == 403 || c == 404 || c == 409 ||
	    c == 413) {
		req_fail(r, c, err->reason[0] ? err->reason : "bad_request",
			 err->msg);
		return;
	}
	log_warnx("iam api: %s: %s (%s)", r->target, err->msg, err->reason);
	if (c == 503 || c == 507)
		req_fail(r, 503, "unavailable",
			 "the identity store is busy; retry later");
	else
		req_fail(r, 500, "internal", "internal error");
}

static void target(struct iam_req *r, const char *kind, const char *id)
{
	if (bw_snprintf(r->target, sizeof(r->target), "%s/%s/%s",
			r->tenant ? r->tenant : "", kind, id ? id : "") < 0)
		r->target[sizeof(r->target) - 1] = 0;
}

/* A string member: NULL when absent; a present non-string fails r. */
static bool body_str(struct iam_req *r, const char *key, bool required,
		     size_t max, struct bw_str *out)
{
	const struct json_value *v = r->body ? json_get(r->body, key) : NULL;
	*out = bw_str_make(NULL, 0);
	if (!v) {
		if (required) {
			char m[96];
			bw_snprintf(m, sizeof(m), "\"%s\" is required", key);
			req_fail(r, 400, "bad_request", m);
			return false;
		}
		return true;
	}
	if (v->type != JSON_STRING || v->u.str.len > max ||
	    (v->u.str.len != strlen(v->u.str.p) &&
	     strcmp(key, "password") != 0 && strcmp(key, "new_password") != 0 &&
	     strcmp(key, "old_password") != 0)) {
		char m[96];
		bw_snprintf(m, sizeof(m),
			    "\"%s\" must be a string of at most %zu bytes", key,
			    max);
		req_fail(r, 400, "bad_request", m);
		return false;
	}
	*out = v->u.str;
	return true;
}

static bool body_int(struct iam_req *r, const char *key, int64_t lo, int64_t hi,
		     int64_t *out)
{
	const struct json_value *v = r->body ? json_get(r->body, key) : NULL;
	if (!v)
		return true;
	if (v->type != JSON_NUMBER || !v->u.num.is_int || v->u.num.i < lo ||
	    v->u.num.i > hi) {
		char m[96];
		bw_snprintf(m, sizeof(m),
			    "\"%s\" must be an integer %lld..%lld", key,
			    (long long)lo, (long long)hi);
		req_fail(r, 400, "bad_request", m);
		return false;
	}
	*out = v->u.num.i;
	return true;
}

static bool body_bool(struct iam_req *r, const char *key, int *out)
{
	const struct json_value *v = r->body ? json_get(r->body, key) : NULL;
	if (!v)
		return true;
	if (v->type != JSON_TRUE && v->type != JSON_FALSE) {
		char m[96];
		bw_snprintf(m, sizeof(m), "\"%s\" must be a boolean", key);
		req_fail(r, 400, "bad_request", m);
		return false;
	}
	*out = v->type == JSON_TRUE;
	return true;
}

static void finish_json(struct iam_req *r, struct json_writer *w, int status)
{
	if (json_writer_finish(w) < 0) {
		req_fail(r, 500, "internal", "response too large");
		return;
	}
	r->status = status;
}

static void write_user(struct json_writer *w, const struct iam_user *u)
{
	json_write_object_begin(w);
	json_write_kv_string(w, "id", u->id);
	json_write_kv_string(w, "tenant", u->tenant);
	json_write_kv_string(w, "name", u->name);
	json_write_kv_string(w, "display_name", u->display_name);
	json_write_kv_string(w, "email", u->email);
	struct bw_arena *a = bw_arena_new(4096, 1 << 20);
	struct bw_err err;
	const struct json_value *attrs =
	    a ? json_parse(a, u->attrs, strlen(u->attrs), NULL, &err) : NULL;
	json_write_key(w, "attributes");
	if (attrs)
		json_write_value(w, attrs);
	else
		json_write_null(w);
	bw_arena_free(a);
	json_write_kv_bool(w, "disabled", u->disabled);
	json_write_kv_bool(w, "must_change_password", u->must_change_password);
	json_write_kv_bool(w, "has_password", u->has_password);
	json_write_kv_bool(w, "mfa_enrolled", u->mfa_enrolled);
	json_write_kv_int(w, "created", u->created);
	json_write_kv_int(w, "updated", u->updated);
	json_write_kv_int(w, "password_changed", u->password_changed);
	json_write_object_end(w);
}

static void write_tenant(struct json_writer *w, const struct iam_tenant *t)
{
	json_write_object_begin(w);
	json_write_kv_string(w, "name", t->name);
	json_write_kv_string(w, "display_name", t->display_name);
	json_write_kv_bool(w, "disabled", t->disabled);
	json_write_kv_int(w, "created", t->created);
	json_write_kv_int(w, "updated", t->updated);
	struct bw_buf pj;
	bw_buf_init(&pj, 16384);
	struct bw_arena *a = bw_arena_new(4096, 1 << 20);
	struct bw_err err;
	const struct json_value *pv = NULL;
	if (a && iam_policy_to_json(&t->policy, &pj) == 0)
		pv = json_parse(a, pj.data, pj.len, NULL, &err);
	json_write_key(w, "policy");
	if (pv)
		json_write_value(w, pv);
	else
		json_write_null(w);
	bw_arena_free(a);
	bw_buf_fini(&pj);
	json_write_object_end(w);
}

/* Text of a nested JSON value (for attributes and policy bodies). */
static bool member_text(struct iam_req *r, const char *key, enum json_type want,
			struct bw_buf *out, bool *present)
{
	const struct json_value *v = r->body ? json_get(r->body, key) : NULL;
	*present = v != NULL;
	if (!v)
		return true;
	if (v->type != want) {
		char m[96];
		bw_snprintf(m, sizeof(m), "\"%s\" must be a JSON object", key);
		req_fail(r, 400, "bad_request", m);
		return false;
	}
	struct json_writer w;
	json_writer_init(&w, out);
	json_write_value(&w, v);
	if (json_writer_finish(&w) < 0) {
		req_fail(r, 413, "too_large", "value too large");
		return false;
	}
	return true;
}

/* ------------------------------------------------------------- tenants */

static int list_tenant_cb(void *arg, const struct iam_tenant *t)
{
	write_tenant(arg, t);
	return 0;
}

static void h_tenant_list(struct iam_req *r)
{
	struct json_writer w;
	struct bw_err err;
	json_writer_init(&w, r->out);
	json_write_object_begin(&w);
	json_write_key(&w, "tenants");
	json_write_array_begin(&w);
	if (iam_tenant_list(r->iam, list_tenant_cb, &w, &err) < 0) {
		fail_err(r, &err);
		return;
	}
	json_write_array_end(&w);
	json_write_object_end(&w);
	finish_json(r, &w, 200);
}

static bool parse_policy(struct iam_req *r, struct iam_policy *p, bool *present)
{
	struct bw_buf pj;
	struct bw_err err;
	bool ok = false;
	bw_buf_init(&pj, 16384);
	if (!member_text(r, "policy", JSON_OBJECT, &pj, present))
		goto out;
	if (*present && iam_policy_from_json(pj.data, pj.len, p, &err) < 0) {
		req_fail(r, 400, "bad_policy", err.msg);
		goto out;
	}
	ok = true;
out:
	bw_buf_fini(&pj);
	return ok;
}

static void h_tenant_create(struct iam_req *r)
{
	struct bw_str name, dn;
	struct iam_policy p;
	struct iam_tenant t;
	struct bw_err err;
	bool has_policy;
	if (!body_str(r, "name", true, IAM_TENANT_MAX, &name) ||
	    !body_str(r, "display_name", false, IAM_TEXT_MAX, &dn))
		return;
	iam_policy_defaults(&p);
	if (!parse_policy(r, &p, &has_policy))
		return;
	r->tenant = name.p;
	target(r, "tenant", name.p);
	if (iam_tenant_create(r->iam, name.p, dn.p, &p, &t, &err) < 0) {
		fail_err(r, &err);
		return;
	}
	struct json_writer w;
	json_writer_init(&w, r->out);
	write_tenant(&w, &t);
	finish_json(r, &w, 201);
}

static void h_tenant_get(struct iam_req *r)
{
	struct iam_tenant t;
	struct bw_err err;
	if (iam_tenant_get(r->iam, r->tenant, &t, &err) < 0) {
		fail_err(r, &err);
		return;
	}
	struct json_writer w;
	json_writer_init(&w, r->out);
	write_tenant(&w, &t);
	finish_json(r, &w, 200);
}

static void h_tenant_update(struct iam_req *r)
{
	struct iam_tenant t;
	struct bw_err err;
	struct bw_str dn;
	bool has_policy;
	int disabled = -1;
	target(r, "tenant", r->tenant);
	if (iam_tenant_get(r->iam, r->tenant, &t, &err) < 0) {
		fail_err(r, &err);
		return;
	}
	if (!body_str(r, "display_name", false, IAM_TEXT_MAX, &dn) ||
	    !body_bool(r, "disabled", &disabled) ||
	    !parse_policy(r, &t.policy, &has_policy))
		return;
	if (disabled == 1 && strcmp(r->tenant, IAM_PLATFORM_TENANT) == 0) {
		req_fail(r, 403, "protected",
			 "the platform tenant cannot be disabled");
		return;
	}
	if (iam_tenant_update(r->iam, r->tenant, dn.p,
			      has_policy ? &t.policy : NULL, &err) < 0 ||
	    (disabled >= 0 &&
	     iam_tenant_set_disabled(r->iam, r->tenant, disabled, &err) < 0)) {
		fail_err(r, &err);
		return;
	}
	if (iam_tenant_get(r->iam, r->tenant, &t, &err) < 0) {
		fail_err(r, &err);
		return;
	}
	bw_snprintf(r->details, sizeof(r->details),
		    "{\"policy_changed\":%s,\"disabled\":%d}",
		    has_policy ? "true" : "false", disabled);
	struct json_writer w;
	json_writer_init(&w, r->out);
	write_tenant(&w, &t);
	finish_json(r, &w, 200);
}

static void h_tenant_delete(struct iam_req *r)
{
	struct bw_err err;
	target(r, "tenant", r->tenant);
	if (iam_tenant_delete(r->iam, r->tenant, &err) < 0) {
		fail_err(r, &err);
		return;
	}
	struct json_writer w;
	json_writer_init(&w, r->out);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "deleted", r->tenant);
	json_write_object_end(&w);
	finish_json(r, &w, 200);
}

/* --------------------------------------------------------------- users */

static int list_user_cb(void *arg, const struct iam_user *u)
{
	write_user(arg, u);
	return 0;
}

static void h_user_list(struct iam_req *r)
{
	struct json_writer w;
	struct bw_err err;
	if (iam_tenant_get(r->iam, r->tenant, NULL, &err) < 0) {
		fail_err(r, &err);
		return;
	}
	json_writer_init(&w, r->out);
	json_write_object_begin(&w);
	json_write_key(&w, "users");
	json_write_array_begin(&w);
	if (iam_user_list(r->iam, r->tenant, list_user_cb, &w, &err) < 0) {
		fail_err(r, &err);
		return;
	}
	json_write_array_end(&w);
	json_write_object_end(&w);
	finish_json(r, &w, 200);
}

static void h_user_create(struct iam_req *r)
{
	struct bw_str name, dn, email, pw;
	struct bw_buf attrs;
	struct iam_user u;
	struct bw_err err;
	bool has_attrs;
	int must = 0;
	bw_buf_init(&attrs, IAM_ATTRS_MAX);
	if (!body_str(r, "name", true, IAM_NAME_MAX, &name) ||
	    !body_str(r, "display_name", false, IAM_TEXT_MAX, &dn) ||
	    !body_str(r, "email", false, IAM_TEXT_MAX, &email) ||
	    !body_str(r, "password", false, IAM_PW_BYTES_MAX, &pw) ||
	    !body_bool(r, "must_change_password", &must) ||
	    !member_text(r, "attributes", JSON_OBJECT, &attrs, &has_attrs))
		goto out;
	target(r, "user", name.p);
	struct iam_user_spec s = {.name = name.p,
				  .display_name = dn.p,
				  .email = email.p,
				  .attrs = has_attrs ? attrs.data : NULL,
				  .password = pw.p,
				  .password_len = pw.len,
				  .must_change_password = must == 1};
	if (iam_user_create(r->iam, r->tenant, &s, &u, &err) < 0) {
		fail_err(r, &err);
		goto out;
	}
	target(r, "user", u.id);
	struct json_writer w;
	json_writer_init(&w, r->out);
	write_user(&w, &u);
	finish_json(r, &w, 201);
out:
	bw_buf_fini(&attrs);
}

static void h_user_get(struct iam_req *r)
{
	struct iam_user u;
	struct bw_err err;
	if (iam_user_get(r->iam, r->tenant, r->user, &u, &err) < 0) {
		fail_err(r, &err);
		return;
	}
	struct json_writer w;
	json_writer_init(&w, r->out);
	write_user(&w, &u);
	finish_json(r, &w, 200);
}

static void h_user_update(struct iam_req *r)
{
	struct bw_str dn, email;
	struct bw_buf attrs;
	struct iam_user u;
	struct bw_err err;
	bool has_attrs;
	int disabled = -1;
	target(r, "user", r->user);
	bw_buf_init(&attrs, IAM_ATTRS_MAX);
	if (!body_str(r, "display_name", false, IAM_TEXT_MAX, &dn) ||
	    !body_str(r, "email", false, IAM_TEXT_MAX, &email) ||
	    !body_bool(r, "disabled", &disabled) ||
	    !member_text(r, "attributes", JSON_OBJECT, &attrs, &has_attrs))
		goto out;
	struct iam_user_spec s = {.display_name = dn.p,
				  .email = email.p,
				  .attrs = has_attrs ? attrs.data : NULL};
	if (iam_user_update(r->iam, r->tenant, r->user, &s, &err) < 0 ||
	    (disabled >= 0 && iam_user_set_disabled(r->iam, r->tenant, r->user,
						    disabled, &err) < 0) ||
	    iam_user_get(r->iam, r->tenant, r->user, &u, &err) < 0) {
		fail_err(r, &err);
		goto out;
	}
	bw_snprintf(r->details, sizeof(r->details),
		    "{\"disabled\":%d,\"attributes\":%s}", disabled,
		    has_attrs ? "true" : "false");
	struct json_writer w;
	json_writer_init(&w, r->out);
	write_user(&w, &u);
	finish_json(r, &w, 200);
out:
	bw_buf_fini(&attrs);
}

static void ok_object(struct iam_req *r, const char *key, const char *value,
		      int status)
{
	struct json_writer w;
	json_writer_init(&w, r->out);
	json_write_object_begin(&w);
	json_write_kv_string(&w, key, value);
	json_write_object_end(&w);
	finish_json(r, &w, status);
}

static void h_user_delete(struct iam_req *r)
{
	struct bw_err err;
	target(r, "user", r->user);
	if (iam_user_delete(r->iam, r->tenant, r->user, &err) < 0) {
		fail_err(r, &err);
		return;
	}
	ok_object(r, "deleted", r->user, 200);
}

static void h_user_password_reset(struct iam_req *r)
{
	struct bw_str pw;
	struct bw_err err;
	target(r, "user", r->user);
	if (!body_str(r, "password", true, IAM_PW_BYTES_MAX, &pw))
		return;
	if (iam_password_reset(r->iam, r->tenant, r->user, pw.p, pw.len, &err) <
	    0) {
		fail_err(r, &err);
		return;
	}
	ok_object(r, "status",
		  "password reset; the user must change it at the next login",
		  200);
}

static void h_user_unlock(struct iam_req *r)
{
	struct iam_user u;
	struct bw_err err;
	target(r, "user", r->user);
	if (iam_user_get(r->iam, r->tenant, r->user, &u, &err) < 0) {
		fail_err(r, &err);
		return;
	}
	iam_lockout_unlock(r->iam, r->tenant, u.name);
	ok_object(r, "status", "unlocked", 200);
}

static int pair_cb(void *arg, const char *id, const char *name)
{
	struct json_writer *w = arg;
	json_write_object_begin(w);
	json_write_kv_string(w, "id", id);
	json_write_kv_string(w, "name", name);
	json_write_object_end(w);
	return 0;
}

static void h_user_groups(struct iam_req *r)
{
	struct json_writer w;
	struct bw_err err;
	struct iam_user u;
	if (iam_user_get(r->iam, r->tenant, r->user, &u, &err) < 0) {
		fail_err(r, &err);
		return;
	}
	json_writer_init(&w, r->out);
	json_write_object_begin(&w);
	json_write_key(&w, "groups");
	json_write_array_begin(&w);
	if (iam_user_groups(r->iam, r->tenant, r->user, pair_cb, &w, &err) <
	    0) {
		fail_err(r, &err);
		return;
	}
	json_write_array_end(&w);
	json_write_object_end(&w);
	finish_json(r, &w, 200);
}

/* ------------------------------------------------------------ sessions */

static int session_cb(void *arg, const struct iam_session_info *s)
{
	struct json_writer *w = arg;
	json_write_object_begin(w);
	json_write_kv_string(w, "id", s->handle);
	json_write_kv_string(w, "ip", s->ip);
	json_write_kv_bool(w, "mfa", s->mfa);
	json_write_kv_int(w, "created", s->created);
	json_write_kv_int(w, "last_seen", s->last_seen);
	json_write_kv_int(w, "expires", s->expires);
	json_write_object_end(w);
	return 0;
}

static void h_session_list(struct iam_req *r)
{
	struct json_writer w;
	struct bw_err err;
	struct iam_user u;
	if (iam_user_get(r->iam, r->tenant, r->user, &u, &err) < 0) {
		fail_err(r, &err);
		return;
	}
	json_writer_init(&w, r->out);
	json_write_object_begin(&w);
	json_write_key(&w, "sessions");
	json_write_array_begin(&w);
	if (iam_session_list(r->iam, r->tenant, r->user, session_cb, &w, &err) <
	    0) {
		fail_err(r, &err);
		return;
	}
	json_write_array_end(&w);
	json_write_object_end(&w);
	finish_json(r, &w, 200);
}

static void h_session_revoke(struct iam_req *r)
{
	struct bw_err err;
	target(r, "session", r->session);
	if (iam_session_revoke(r->iam, r->tenant, r->user, r->session, &err) <
	    0) {
		fail_err(r, &err);
		return;
	}
	ok_object(r, "revoked", r->session, 200);
}

static void h_session_revoke_all(struct iam_req *r)
{
	struct bw_err err;
	struct iam_user u;
	target(r, "user", r->user);
	if (iam_user_get(r->iam, r->tenant, r->user, &u, &err) < 0 ||
	    iam_session_revoke_all(r->iam, r->tenant, r->user, NULL, &err) <
		0) {
		fail_err(r, &err);
		return;
	}
	ok_object(r, "status", "all sessions revoked", 200);
}

/* ----------------------------------------------------------------- MFA */

static void h_totp_begin(struct iam_req *r)
{
	struct iam_totp_enrolment e;
	struct bw_err err;
	struct bw_str issuer, alg;
	int64_t digits = 6;
	enum iam_totp_alg a = IAM_TOTP_SHA1;
	target(r, "user", r->user);
	if (!body_str(r, "issuer", false, 64, &issuer) ||
	    !body_str(r, "algorithm", false, 8, &alg) ||
	    !body_int(r, "digits", IAM_TOTP_DIGITS_MIN, IAM_TOTP_DIGITS_MAX,
		      &digits))
		return;
	if (alg.p && strcmp(alg.p, "SHA256") == 0)
		a = IAM_TOTP_SHA256;
	else if (alg.p && strcmp(alg.p, "SHA512") == 0)
		a = IAM_TOTP_SHA512;
	else if (alg.p && strcmp(alg.p, "SHA1") != 0) {
		req_fail(r, 400, "bad_request",
			 "algorithm is SHA1, SHA256 or SHA512");
		return;
	}
	if (iam_totp_begin(r->iam, r->tenant, r->user, issuer.p, a,
			   (unsigned)digits, &e, &err) < 0) {
		fail_err(r, &err);
		return;
	}
	char *svg = iam_qr_svg(e.uri, &err);
	struct json_writer w;
	json_writer_init(&w, r->out);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "secret", e.secret_b32);
	json_write_kv_string(&w, "otpauth_uri", e.uri);
	if (svg)
		json_write_kv_string(&w, "qr_svg", svg);
	json_write_object_end(&w);
	free(svg);
	bw_wipe(&e, sizeof(e));
	finish_json(r, &w, 201);
}

static void h_totp_confirm(struct iam_req *r)
{
	char codes[IAM_RECOVERY_CODES][IAM_RECOVERY_CODE_LEN + 1];
	struct bw_str code;
	struct bw_err err;
	target(r, "user", r->user);
	if (!body_str(r, "code", true, 16, &code))
		return;
	if (iam_totp_confirm(r->iam, r->tenant, r->user, code.p, codes, &err) <
	    0) {
		fail_err(r, &err);
		return;
	}
	struct json_writer w;
	json_writer_init(&w, r->out);
	json_write_object_begin(&w);
	json_write_key(&w, "recovery_codes");
	json_write_array_begin(&w);
	for (int i = 0; i < IAM_RECOVERY_CODES; i++)
		json_write_string(&w, codes[i]);
	json_write_array_end(&w);
	json_write_object_end(&w);
	bw_wipe(codes, sizeof(codes));
	finish_json(r, &w, 200);
}

static void h_totp_disable(struct iam_req *r)
{
	struct bw_err err;
	target(r, "user", r->user);
	if (iam_totp_disable(r->iam, r->tenant, r->user, &err) < 0) {
		fail_err(r, &err);
		return;
	}
	ok_object(r, "status", "TOTP removed", 200);
}

/* ------------------------------------------------------------ API keys */

static void write_key(struct json_writer *w, const struct iam_apikey_info *k)
{
	json_write_object_begin(w);
	json_write_kv_string(w, "id", k->id);
	json_write_kv_string(w, "name", k->name);
	json_write_kv_string(w, "scopes", k->scopes);
	json_write_kv_int(w, "created", k->created);
	json_write_kv_int(w, "expires", k->expires);
	json_write_kv_int(w, "last_used", k->last_used);
	json_write_object_end(w);
}

static int key_cb(void *arg, const struct iam_apikey_info *k)
{
	write_key(arg, k);
	return 0;
}

static void h_key_list(struct iam_req *r)
{
	struct json_writer w;
	struct bw_err err;
	struct iam_user u;
	if (iam_user_get(r->iam, r->tenant, r->user, &u, &err) < 0) {
		fail_err(r, &err);
		return;
	}
	json_writer_init(&w, r->out);
	json_write_object_begin(&w);
	json_write_key(&w, "api_keys");
	json_write_array_begin(&w);
	if (iam_apikey_list(r->iam, r->tenant, r->user, key_cb, &w, &err) < 0) {
		fail_err(r, &err);
		return;
	}
	json_write_array_end(&w);
	json_write_object_end(&w);
	finish_json(r, &w, 200);
}

static void key_out(struct iam_req *r, const char *token,
		    const struct iam_apikey_info *k)
{
	struct json_writer w;
	json_writer_init(&w, r->out);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "token", token);
	json_write_key(&w, "key");
	write_key(&w, k);
	json_write_object_end(&w);
	finish_json(r, &w, 201);
	bw_snprintf(r->details, sizeof(r->details), "{\"key_id\":\"%s\"}",
		    k->id);
}

static void h_key_create(struct iam_req *r)
{
	struct bw_str name, scopes;
	struct bw_err err;
	struct iam_apikey_info k;
	char token[IAM_APIKEY_LEN + 1];
	int64_t ttl = 0;
	target(r, "user", r->user);
	if (!body_str(r, "name", true, IAM_NAME_MAX, &name) ||
	    !body_str(r, "scopes", false, IAM_SCOPES_MAX, &scopes) ||
	    !body_int(r, "ttl_s", 0, 10LL * 365 * 86400, &ttl))
		return;
	if (iam_apikey_create(r->iam, r->tenant, r->user, name.p, scopes.p, ttl,
			      token, &k, &err) < 0) {
		fail_err(r, &err);
		return;
	}
	key_out(r, token, &k);
	bw_wipe(token, sizeof(token));
}

static void h_key_rotate(struct iam_req *r)
{
	struct bw_err err;
	struct iam_apikey_info k;
	char token[IAM_APIKEY_LEN + 1];
	int64_t overlap = 0;
	target(r, "apikey", r->key);
	if (!body_int(r, "overlap_s", 0, 30LL * 86400, &overlap))
		return;
	if (iam_apikey_rotate(r->iam, r->tenant, r->user, r->key, overlap,
			      token, &k, &err) < 0) {
		fail_err(r, &err);
		return;
	}
	key_out(r, token, &k);
	bw_wipe(token, sizeof(token));
}

static void h_key_revoke(struct iam_req *r)
{
	struct bw_err err;
	target(r, "apikey", r->key);
	if (iam_apikey_revoke(r->iam, r->tenant, r->user, r->key, &err) < 0) {
		fail_err(r, &err);
		return;
	}
	ok_object(r, "revoked", r->key, 200);
}

/* -------------------------------------------------------------- groups */

static int group_cb(void *arg, const struct iam_group *g)
{
	struct json_writer *w = arg;
	json_write_object_begin(w);
	json_write_kv_string(w, "id", g->id);
	json_write_kv_string(w, "name", g->name);
	json_write_kv_string(w, "description", g->description);
	json_write_kv_int(w, "created", g->created);
	json_write_object_end(w);
	return 0;
}

static void h_group_list(struct iam_req *r)
{
	struct json_writer w;
	struct bw_err err;
	if (iam_tenant_get(r->iam, r->tenant, NULL, &err) < 0) {
		fail_err(r, &err);
		return;
	}
	json_writer_init(&w, r->out);
	json_write_object_begin(&w);
	json_write_key(&w, "groups");
	json_write_array_begin(&w);
	if (iam_group_list(r->iam, r->tenant, group_cb, &w, &err) < 0) {
		fail_err(r, &err);
		return;
	}
	json_write_array_end(&w);
	json_write_object_end(&w);
	finish_json(r, &w, 200);
}

static void h_group_create(struct iam_req *r)
{
	struct bw_str name, desc;
	struct iam_group g;
	struct bw_err err;
	if (!body_str(r, "name", true, IAM_NAME_MAX, &name) ||
	    !body_str(r, "description", false, IAM_TEXT_MAX, &desc))
		return;
	target(r, "group", name.p);
	if (iam_group_create(r->iam, r->tenant, name.p, desc.p, &g, &err) < 0) {
		fail_err(r, &err);
		return;
	}
	target(r, "group", g.id);
	struct json_writer w;
	json_writer_init(&w, r->out);
	group_cb(&w, &g);
	finish_json(r, &w, 201);
}

static void h_group_get(struct iam_req *r)
{
	struct iam_group g;
	struct bw_err err;
	if (iam_group_get(r->iam, r->tenant, r->group, &g, &err) < 0) {
		fail_err(r, &err);
		return;
	}
	struct json_writer w;
	json_writer_init(&w, r->out);
	group_cb(&w, &g);
	finish_json(r, &w, 200);
}

static void h_group_update(struct iam_req *r)
{
	struct bw_str name, desc;
	struct bw_err err;
	target(r, "group", r->group);
	if (!body_str(r, "name", false, IAM_NAME_MAX, &name) ||
	    !body_str(r, "description", false, IAM_TEXT_MAX, &desc))
		return;
	if (iam_group_update(r->iam, r->tenant, r->group, name.p, desc.p,
			     &err) < 0) {
		fail_err(r, &err);
		return;
	}
	bw_snprintf(r->details, sizeof(r->details), "{\"renamed\":%s}",
		    name.p ? "true" : "false");
	h_group_get(r);
}

static void h_group_delete(struct iam_req *r)
{
	struct bw_err err;
	target(r, "group", r->group);
	if (iam_group_delete(r->iam, r->tenant, r->group, &err) < 0) {
		fail_err(r, &err);
		return;
	}
	ok_object(r, "deleted", r->group, 200);
}

static void h_group_members(struct iam_req *r)
{
	struct json_writer w;
	struct bw_err err;
	json_writer_init(&w, r->out);
	json_write_object_begin(&w);
	json_write_key(&w, "members");
	json_write_array_begin(&w);
	if (iam_group_members(r->iam, r->tenant, r->group, pair_cb, &w, &err) <
	    0) {
		fail_err(r, &err);
		return;
	}
	json_write_array_end(&w);
	json_write_object_end(&w);
	finish_json(r, &w, 200);
}

static void h_member_add(struct iam_req *r)
{
	struct bw_err err;
	target(r, "group", r->group);
	bw_snprintf(r->details, sizeof(r->details), "{\"user\":\"%s\"}",
		    r->user);
	if (iam_group_add_member(r->iam, r->tenant, r->group, r->user, &err) <
	    0) {
		fail_err(r, &err);
		return;
	}
	ok_object(r, "added", r->user, 200);
}

static void h_member_remove(struct iam_req *r)
{
	struct bw_err err;
	target(r, "group", r->group);
	bw_snprintf(r->details, sizeof(r->details), "{\"user\":\"%s\"}",
		    r->user);
	if (iam_group_remove_member(r->iam, r->tenant, r->group, r->user,
				    &err) < 0) {
		fail_err(r, &err);
		return;
	}
	ok_object(r, "removed", r->user, 200);
}

/* -------------------------------------------------------- OIDC clients */

static int client_cb(void *arg, const struct iam_oidc_client_info *c)
{
	struct json_writer *w = arg;
	json_write_object_begin(w);
	json_write_kv_string(w, "client_id", c->client_id);
	json_write_kv_string(w, "name", c->name);
	json_write_kv_string(w, "redirect_uris", c->redirect_uris);
	json_write_kv_string(w, "grant_types", c->grant_types);
	json_write_kv_string(w, "scopes", c->scopes);
	json_write_kv_bool(w, "public", c->public_client);
	json_write_kv_int(w, "created", c->created);
	json_write_object_end(w);
	return 0;
}

/* Answers {"KEY": [...]} with the items list() writes for the tenant,
 * which must exist. */
static void list_out(struct iam_req *r, const char *key,
		     int (*list)(struct iam_req *r, struct json_writer *w,
				 struct bw_err *err))
{
	struct json_writer w;
	struct bw_err err;
	if (iam_tenant_get(r->iam, r->tenant, NULL, &err) < 0) {
		fail_err(r, &err);
		return;
	}
	json_writer_init(&w, r->out);
	json_write_object_begin(&w);
	json_write_key(&w, key);
	json_write_array_begin(&w);
	if (list(r, &w, &err) < 0) {
		fail_err(r, &err);
		return;
	}
	json_write_array_end(&w);
	json_write_object_end(&w);
	finish_json(r, &w, 200);
}

static int list_clients(struct iam_req *r, struct json_writer *w,
			struct bw_err *err)
{
	return iam_oidc_client_list(r->iam, r->tenant, client_cb, w, err);
}

static void h_client_list(struct iam_req *r)
{
	list_out(r, "clients", list_clients);
}

static void h_client_create(struct iam_req *r)
{
	struct bw_str name, uris, grants, scopes;
	struct bw_err err;
	int pub = 0;
	char id[IAM_ID_LEN + 1], secret[IAM_TOKEN_MAX] = "";
	if (!body_str(r, "name", true, IAM_NAME_MAX, &name) ||
	    !body_str(r, "redirect_uris", false, IAM_OIDC_URIS_MAX, &uris) ||
	    !body_str(r, "grant_types", false, 127, &grants) ||
	    !body_str(r, "scopes", false, IAM_SCOPES_MAX, &scopes) ||
	    !body_bool(r, "public", &pub))
		return;
	target(r, "oidc-client", name.p);
	struct iam_oidc_client_spec cs = {.name = name.p,
					  .redirect_uris = uris.p,
					  .grant_types = grants.p,
					  .scopes = scopes.p,
					  .public_client = pub == 1};
	if (iam_tenant_require(r->iam, r->tenant, NULL, &err) < 0 ||
	    iam_oidc_client_create(r->iam, r->tenant, &cs, id, secret, &err) <
		0) {
		fail_err(r, &err);
		return;
	}
	target(r, "oidc-client", id);
	struct json_writer w;
	json_writer_init(&w, r->out);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "client_id", id);
	if (secret[0])
		json_write_kv_string(&w, "client_secret", secret);
	json_write_kv_bool(&w, "public", pub == 1);
	json_write_object_end(&w);
	bw_wipe(secret, sizeof(secret));
	finish_json(r, &w, 201);
}

static void h_client_delete(struct iam_req *r)
{
	struct bw_err err;
	target(r, "oidc-client", r->client);
	if (iam_oidc_client_delete(r->iam, r->tenant, r->client, &err) < 0) {
		fail_err(r, &err);
		return;
	}
	ok_object(r, "deleted", r->client, 200);
}

static void h_key_rotate_oidc(struct iam_req *r)
{
	struct bw_str alg;
	struct bw_err err;
	if (!body_str(r, "alg", false, 16, &alg))
		return;
	const char *a = alg.p ? alg.p : "ES256";
	int ja = strcmp(a, "ES256") == 0   ? JOSE_ALG_ES256
		 : strcmp(a, "EdDSA") == 0 ? JOSE_ALG_EDDSA
		 : strcmp(a, "RS256") == 0 ? JOSE_ALG_RS256
					   : -1;
	target(r, "oidc-key", a);
	if (ja < 0) {
		req_fail(r, 400, "bad_request",
			 "\"alg\" must be ES256, EdDSA or RS256");
		return;
	}
	if (iam_tenant_require(r->iam, r->tenant, NULL, &err) < 0 ||
	    iam_oidc_key_rotate(r->iam, r->tenant, ja, &err) < 0) {
		fail_err(r, &err);
		return;
	}
	ok_object(r, "rotated", a, 200);
}

/* ---------------------------------------------------------- federation */

static int provider_cb(void *arg, const struct iam_fed_provider *p)
{
	struct json_writer *w = arg;
	json_write_object_begin(w);
	json_write_kv_string(w, "name", p->name);
	json_write_kv_string(w, "issuer", p->issuer);
	json_write_kv_string(w, "client_id", p->client_id);
	json_write_kv_bool(w, "has_client_secret", p->has_secret);
	json_write_kv_string(w, "scopes", p->scopes);
	json_write_kv_string(w, "username_claim", p->username_claim);
	json_write_kv_bool(w, "link_email", p->link_email);
	json_write_kv_bool(w, "provision", p->provision);
	json_write_kv_bool(w, "disabled", p->disabled);
	json_write_kv_int(w, "created", p->created);
	json_write_kv_int(w, "updated", p->updated);
	json_write_object_end(w);
	return 0;
}

static int list_providers(struct iam_req *r, struct json_writer *w,
			  struct bw_err *err)
{
	return iam_fed_provider_list(r->iam, r->tenant, provider_cb, w, err);
}

static void h_provider_list(struct iam_req *r)
{
	list_out(r, "providers", list_providers);
}

/* The provider fields of the body; false when one is malformed. */
static bool provider_spec(struct iam_req *r, struct iam_fed_provider_spec *s,
			  struct bw_str *name)
{
	struct bw_str issuer, cid, secret, scopes, claim;
	int le = -1, pv = -1, dis = -1;
	if (!body_str(r, "name", false, IAM_FED_NAME_MAX, name) ||
	    !body_str(r, "issuer", false, IAM_FED_URL_MAX, &issuer) ||
	    !body_str(r, "client_id", false, IAM_FED_CLIENT_ID_MAX, &cid) ||
	    !body_str(r, "client_secret", false, IAM_FED_SECRET_MAX, &secret) ||
	    !body_str(r, "scopes", false, IAM_SCOPES_MAX, &scopes) ||
	    !body_str(r, "username_claim", false, IAM_FED_CLAIM_MAX, &claim) ||
	    !body_bool(r, "link_email", &le) ||
	    !body_bool(r, "provision", &pv) || !body_bool(r, "disabled", &dis))
		return false;
	*s = (struct iam_fed_provider_spec){.name = name->p,
					    .issuer = issuer.p,
					    .client_id = cid.p,
					    .client_secret = secret.p,
					    .scopes = scopes.p,
					    .username_claim = claim.p,
					    .link_email = le,
					    .provision = pv,
					    .disabled = dis};
	return true;
}

static void provider_out(struct iam_req *r, const struct iam_fed_provider *p,
			 int status)
{
	struct json_writer w;
	json_writer_init(&w, r->out);
	provider_cb(&w, p);
	finish_json(r, &w, status);
}

static void h_provider_create(struct iam_req *r)
{
	struct iam_fed_provider_spec s;
	struct iam_fed_provider p;
	struct bw_err err;
	struct bw_str name;
	if (!provider_spec(r, &s, &name))
		return;
	target(r, "federation", name.p);
	if (!name.p) {
		req_fail(r, 400, "bad_request", "\"name\" is required");
		return;
	}
	if (iam_fed_provider_create(r->iam, r->tenant, &s, &p, &err) < 0) {
		fail_err(r, &err);
		return;
	}
	provider_out(r, &p, 201);
}

static void h_provider_get(struct iam_req *r)
{
	struct iam_fed_provider p;
	struct bw_err err;
	if (iam_fed_provider_get(r->iam, r->tenant, r->provider, &p, &err) < 0) {
		fail_err(r, &err);
		return;
	}
	provider_out(r, &p, 200);
}

static void h_provider_update(struct iam_req *r)
{
	struct iam_fed_provider_spec s;
	struct iam_fed_provider p;
	struct bw_err err;
	struct bw_str name;
	target(r, "federation", r->provider);
	if (!provider_spec(r, &s, &name))
		return;
	if (name.p) {
		req_fail(r, 400, "bad_request", "a provider cannot be renamed");
		return;
	}
	if (iam_fed_provider_update(r->iam, r->tenant, r->provider, &s, &p,
				    &err) < 0) {
		fail_err(r, &err);
		return;
	}
	provider_out(r, &p, 200);
}

static void h_provider_delete(struct iam_req *r)
{
	struct bw_err err;
	target(r, "federation", r->provider);
	if (iam_fed_provider_delete(r->iam, r->tenant, r->provider, &err) < 0) {
		fail_err(r, &err);
		return;
	}
	ok_object(r, "deleted", r->provider, 200);
}

/* --------------------------------------------------------------- login */

static void login_out(struct iam_req *r, const struct iam_login_result *res)
{
	bw_snprintf(r->details, sizeof(r->details), "{\"status\":\"%s\"}",
		    iam_login_status_message(res->status));
	switch (res->status) {
	case IAM_LOGIN_FAILED: {
		req_fail(r, 401, "invalid_credentials",
			 iam_login_status_message(res->status));
		return;
	}
	case IAM_LOGIN_THROTTLED:
		r->retry_after = res->retry_after_s;
		{
			req_fail(r, 429, "throttled",
				 iam_login_status_message(res->status));
			return;
		}
	case IAM_LOGIN_ERROR: {
		fail_err(r, &res->err);
		return;
	}
	case IAM_LOGIN_OK:
	case IAM_LOGIN_MFA_REQUIRED:
	case IAM_LOGIN_CHANGE_PASSWORD:
	case IAM_LOGIN_ENROL_REQUIRED:
		break;
	}
	struct json_writer w;
	json_writer_init(&w, r->out);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "status",
			     res->status == IAM_LOGIN_OK ? "ok"
			     : res->status == IAM_LOGIN_MFA_REQUIRED
				 ? "mfa_required"
			     : res->status == IAM_LOGIN_ENROL_REQUIRED
				 ? "mfa_enrolment_required"
				 : "password_change_required");
	json_write_kv_string(&w, "user_id", res->user_id);
	if (res->status == IAM_LOGIN_OK) {
		json_write_kv_string(&w, "session_token", res->session_token);
		if (res->password_expires_s > 0)
			json_write_kv_int(&w, "password_expires_in_s",
					  res->password_expires_s);
	} else {
		json_write_kv_string(&w, "challenge", res->challenge);
	}
	json_write_object_end(&w);
	bw_snprintf(r->target, sizeof(r->target), "%s/user/%s", r->tenant,
		    res->user_id);
	finish_json(r, &w, 200);
}

static void h_login(struct iam_req *r)
{
	struct bw_str user, pw;
	struct iam_login_result res;
	target(r, "login", "");
	if (!body_str(r, "username", true, IAM_NAME_MAX, &user) ||
	    !body_str(r, "password", true, IAM_PW_BYTES_MAX, &pw))
		return;
	struct iam_login_request req = {r->tenant, user.p, pw.p, pw.len,
					r->caller_ip};
	iam_login(r->iam, &req, &res);
	login_out(r, &res);
	bw_wipe(&res, sizeof(res));
}

/* Forced enrolment at sign-in: the secret for the "enrol" challenge. */
static void h_login_enrol(struct iam_req *r)
{
	struct bw_str ch;
	struct iam_totp_enrolment e;
	struct bw_err err;
	target(r, "login", "");
	if (!body_str(r, "challenge", true, IAM_TOKEN_MAX, &ch))
		return;
	if (iam_login_enrol_begin(r->iam, r->tenant, ch.p, NULL, &e, &err) <
	    0) {
		fail_err(r, &err);
		return;
	}
	char *svg = iam_qr_svg(e.uri, &err);
	struct json_writer w;
	json_writer_init(&w, r->out);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "secret", e.secret_b32);
	json_write_kv_string(&w, "otpauth_uri", e.uri);
	if (svg)
		json_write_kv_string(&w, "qr_svg", svg);
	json_write_object_end(&w);
	free(svg);
	bw_wipe(&e, sizeof(e));
	finish_json(r, &w, 201);
}

/* ... and its confirmation: a session plus the new recovery codes. */
static void h_login_enrol_verify(struct iam_req *r)
{
	struct bw_str ch, code;
	struct iam_login_result res;
	char codes[IAM_RECOVERY_CODES][IAM_RECOVERY_CODE_LEN + 1];
	target(r, "login", "");
	if (!body_str(r, "challenge", true, IAM_TOKEN_MAX, &ch) ||
	    !body_str(r, "code", true, 32, &code))
		return;
	iam_login_enrol_finish(r->iam, r->tenant, ch.p, code.p, r->caller_ip,
			       codes, &res);
	if (res.status != IAM_LOGIN_OK) {
		login_out(r, &res);
		bw_wipe(&res, sizeof(res));
		return;
	}
	bw_snprintf(r->details, sizeof(r->details),
		    "{\"status\":\"enrolled\"}");
	struct json_writer w;
	json_writer_init(&w, r->out);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "status", "ok");
	json_write_kv_string(&w, "user_id", res.user_id);
	json_write_kv_string(&w, "session_token", res.session_token);
	json_write_key(&w, "recovery_codes");
	json_write_array_begin(&w);
	for (int i = 0; i < IAM_RECOVERY_CODES; i++)
		json_write_string(&w, codes[i]);
	json_write_array_end(&w);
	json_write_object_end(&w);
	bw_snprintf(r->target, sizeof(r->target), "%s/user/%s", r->tenant,
		    res.user_id);
	finish_json(r, &w, 200);
	bw_wipe(codes, sizeof(codes));
	bw_wipe(&res, sizeof(res));
}

static void h_login_mfa(struct iam_req *r)
{
	struct bw_str ch, code;
	struct iam_login_result res;
	target(r, "login", "");
	if (!body_str(r, "challenge", true, IAM_TOKEN_MAX, &ch) ||
	    !body_str(r, "code", true, 32, &code))
		return;
	iam_login_mfa(r->iam, r->tenant, ch.p, code.p, r->caller_ip, &res);
	login_out(r, &res);
	bw_wipe(&res, sizeof(res));
}

static void h_login_password(struct iam_req *r)
{
	struct bw_str ch, pw;
	struct iam_login_result res;
	target(r, "login", "");
	if (!body_str(r, "challenge", true, IAM_TOKEN_MAX, &ch) ||
	    !body_str(r, "new_password", true, IAM_PW_BYTES_MAX, &pw))
		return;
	iam_login_change_password(r->iam, r->tenant, ch.p, pw.p, pw.len,
				  r->caller_ip, &res);
	login_out(r, &res);
	bw_wipe(&res, sizeof(res));
}

/* ---------------------------------------------------------------- self */

static void h_self_password(struct iam_req *r)
{
	struct bw_str old, pw;
	struct bw_err err;
	target(r, "user", r->user);
	if (!body_str(r, "old_password", true, IAM_PW_BYTES_MAX, &old) ||
	    !body_str(r, "new_password", true, IAM_PW_BYTES_MAX, &pw))
		return;
	if (iam_password_change(r->iam, r->tenant, r->user, old.p, old.len,
				pw.p, pw.len, NULL, &err) < 0) {
		fail_err(r, &err);
		return;
	}
	ok_object(r, "status", "password changed; sessions revoked", 200);
}

/* --------------------------------------------------------------- table */

/* ------------------------------------------------ security keys, MFA */

static int wa_cb(void *arg, const struct iam_webauthn_cred_info *c)
{
	struct json_writer *w = arg;
	json_write_object_begin(w);
	json_write_kv_string(w, "id", c->handle);
	json_write_kv_string(w, "name", c->name);
	json_write_kv_string(w, "alg", c->alg == -7   ? "ES256"
					: c->alg == -8 ? "EdDSA"
						       : "RS256");
	json_write_kv_string(w, "attestation", c->att_type);
	json_write_kv_int(w, "sign_count", c->sign_count);
	json_write_kv_int(w, "created", c->created);
	json_write_kv_int(w, "last_used", c->last_used);
	json_write_object_end(w);
	return 0;
}

static void h_webauthn_list(struct iam_req *r)
{
	struct json_writer w;
	struct bw_err err;
	struct iam_user u;
	if (iam_user_get(r->iam, r->tenant, r->user, &u, &err) < 0) {
		fail_err(r, &err);
		return;
	}
	json_writer_init(&w, r->out);
	json_write_object_begin(&w);
	json_write_key(&w, "security_keys");
	json_write_array_begin(&w);
	if (iam_webauthn_list(r->iam, r->tenant, r->user, wa_cb, &w, &err) <
	    0) {
		fail_err(r, &err);
		return;
	}
	json_write_array_end(&w);
	json_write_object_end(&w);
	finish_json(r, &w, 200);
}

static void h_webauthn_delete(struct iam_req *r)
{
	struct bw_err err;
	target(r, "security_key", r->key);
	if (iam_webauthn_delete(r->iam, r->tenant, r->user, r->key, &err) < 0) {
		fail_err(r, &err);
		return;
	}
	ok_object(r, "deleted", r->key, 200);
}

/* The answer to setting an "MFA required" mark on a group or a role
 * (rc, err: what the setter returned): {kind: id, "mfa_required"}. */
static void mfa_mark_reply(struct iam_req *r, const char *kind, const char *id,
			   bool required, int rc, const struct bw_err *err)
{
	if (rc < 0) {
		fail_err(r, err);
		return;
	}
	struct json_writer w;
	json_writer_init(&w, r->out);
	json_write_object_begin(&w);
	json_write_kv_string(&w, kind, id);
	json_write_kv_bool(&w, "mfa_required", required);
	json_write_object_end(&w);
	finish_json(r, &w, 200);
}

/* PUT marks the group "MFA required", DELETE unmarks. */
static void h_group_mfa(struct iam_req *r, bool required)
{
	struct bw_err err;
	target(r, "group", r->group);
	int rc = iam_mfa_group_set(r->iam, r->tenant, r->group, required, &err);
	mfa_mark_reply(r, "group", r->group, required, rc, &err);
}

static void h_group_mfa_on(struct iam_req *r)
{
	h_group_mfa(r, true);
}

static void h_group_mfa_off(struct iam_req *r)
{
	h_group_mfa(r, false);
}

/* ------------------------------------------------------------- step-up */

static void write_stepup(struct iam_req *r, const char *state, int64_t window)
{
	struct json_writer w;
	json_writer_init(&w, r->out);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "step_up", state);
	json_write_kv_int(&w, "max_age", window);
	json_write_object_end(&w);
	finish_json(r, &w, 200);
}

/* Sessions only: API keys and the bootstrap token have no second factor
 * and are exempt from step-up (docs/identity-mfa.md). */
static bool need_session(struct iam_req *r)
{
	if (r->caller_session)
		return true;
	req_fail(r, 400, "not_a_session",
		 "step-up applies to sessions; API keys are exempt");
	return false;
}

static void h_stepup_get(struct iam_req *r)
{
	enum iam_stepup_state st;
	int64_t window = 0;
	struct bw_err err;
	if (!need_session(r))
		return;
	if (iam_stepup_state(r->iam, r->tenant, r->caller_session, &st, &window,
			     &err) < 0) {
		fail_err(r, &err);
		return;
	}
	write_stepup(r,
		     st == IAM_STEPUP_FRESH	? "fresh"
		     : st == IAM_STEPUP_ENROL ? "enrolment_required"
					      : "required",
		     window);
}

/* POST: the WebAuthn challenge of a security-key step-up (the options
 * for navigator.credentials.get, binary members in base64url). */
static void h_stepup_webauthn(struct iam_req *r)
{
	struct iam_rp_buf rp;
	struct bw_err err;
	if (!need_session(r))
		return;
	if (iam_pages_rp(r->iam, r->tenant, r->host, r->tls, &rp) < 0) {
		req_fail(r, 404, "no_webauthn",
			 "security keys are not served by this process");
		return;
	}
	if (iam_webauthn_assert_begin(r->iam, &rp.rp, r->tenant, r->user, r->out,
				      &err) < 0) {
		fail_err(r, &err);
		return;
	}
	r->status = 200;
}

/* A string member of the "webauthn" object, or NULL. */
static const char *wa_member(const struct json_value *wa, const char *key)
{
	const struct json_value *v = wa ? json_get(wa, key) : NULL;
	return v && v->type == JSON_STRING &&
		       v->u.str.len <= IAM_WEBAUTHN_ATTESTATION_MAX * 2
		   ? v->u.str.p
		   : NULL;
}

/* POST {"code": TOTP or recovery code, "password": optional}, or
 * {"webauthn": {credential_id, client_data, authenticator_data,
 * signature}} answering h_stepup_webauthn's challenge, or, for a user
 * with no second factor, {"password"}. */
static void h_stepup(struct iam_req *r)
{
	struct bw_str code, pw;
	int64_t window = 0;
	struct bw_err err;
	struct iam_rp_buf rp;
	target(r, "session", r->caller_session);
	if (!need_session(r) || !body_str(r, "code", false, 32, &code) ||
	    !body_str(r, "password", false, IAM_PW_BYTES_MAX, &pw))
		return;
	const struct json_value *wa = json_get(r->body, "webauthn");
	if (wa && wa->type != JSON_OBJECT) {
		req_fail(r, 400, "bad_request", "\"webauthn\" must be an object");
		return;
	}
	struct iam_stepup_proof proof = {.code = code.p,
					 .password = pw.p,
					 .password_len = pw.len};
	if (wa) {
		proof.rp = iam_pages_rp(r->iam, r->tenant, r->host, r->tls, &rp) == 0
			       ? &rp.rp
			       : NULL;
		proof.wa_credential_id = wa_member(wa, "credential_id");
		proof.wa_client_data = wa_member(wa, "client_data");
		proof.wa_authenticator_data = wa_member(wa, "authenticator_data");
		proof.wa_signature = wa_member(wa, "signature");
		if (!proof.wa_signature) {
			req_fail(r, 400, "bad_request",
				 "\"webauthn\" needs credential_id, client_data,"
				 " authenticator_data and signature");
			return;
		}
	}
	if (iam_stepup_verify(r->iam, r->tenant, r->user, r->caller_session,
			      &proof, r->caller_ip, &window, &err) < 0) {
		bw_snprintf(r->details, sizeof(r->details),
			    "{\"reason\":\"%s\"}", err.reason);
		if (err.code == 429) {
			r->retry_after = 60;
			req_fail(r, 429, "throttled", err.msg);
			return;
		}
		fail_err(r, &err);
		return;
	}
	bw_snprintf(r->details, sizeof(r->details), "{\"method\":\"%s\"}",
		    wa ? "security_key" : code.p ? "code" : "password");
	write_stepup(r, "fresh", window);
}

/* ------------------------------------------------------- MFA per role */

static int role_cb(void *arg, const char *role)
{
	json_write_string(arg, role);
	return 0;
}

static void h_mfa_roles(struct iam_req *r)
{
	struct json_writer w;
	struct bw_err err;
	if (iam_tenant_get(r->iam, r->tenant, NULL, &err) < 0) {
		fail_err(r, &err);
		return;
	}
	json_writer_init(&w, r->out);
	json_write_object_begin(&w);
	json_write_key(&w, "mfa_required_roles");
	json_write_array_begin(&w);
	if (iam_mfa_role_list(r->iam, r->tenant, role_cb, &w, &err) < 0) {
		fail_err(r, &err);
		return;
	}
	json_write_array_end(&w);
	json_write_object_end(&w);
	finish_json(r, &w, 200);
}

/* PUT marks the role "MFA required", DELETE unmarks it. */
static void h_mfa_role(struct iam_req *r, bool required)
{
	struct bw_err err;
	target(r, "role", r->role);
	int rc = iam_mfa_role_set(r->iam, r->tenant, r->role, required, &err);
	mfa_mark_reply(r, "role", r->role, required, rc, &err);
}

static void h_mfa_role_on(struct iam_req *r)
{
	h_mfa_role(r, true);
}

static void h_mfa_role_off(struct iam_req *r)
{
	h_mfa_role(r, false);
}

#define T "/api/v1/iam/tenants/{tenant}"
#define U T "/users/{user}"

static const struct route_spec specs[] = {
    {HTTP_METHOD_GET, U "/webauthn", "iam.user.read", NULL, R_TENANT,
     h_webauthn_list},
    {HTTP_METHOD_DELETE, U "/webauthn/{key}", "iam.user.manage",
     "iam.webauthn.delete", R_TENANT | R_STEPUP, h_webauthn_delete},
    {HTTP_METHOD_PUT, T "/groups/{group}/mfa", "iam.user.manage",
     "iam.mfa.group_require", R_TENANT, h_group_mfa_on},
    {HTTP_METHOD_DELETE, T "/groups/{group}/mfa", "iam.user.manage",
     "iam.mfa.group_unrequire", R_TENANT | R_STEPUP, h_group_mfa_off},
    {HTTP_METHOD_GET, "/api/v1/iam/tenants", "iam.tenant.read", NULL,
     R_PLATFORM, h_tenant_list},
    {HTTP_METHOD_POST, "/api/v1/iam/tenants", "iam.tenant.manage",
     "iam.tenant.create", R_PLATFORM | R_BODY, h_tenant_create},
    {HTTP_METHOD_GET, T, "iam.tenant.read", NULL, R_TENANT, h_tenant_get},
    {HTTP_METHOD_PATCH, T, "iam.tenant.manage", "iam.tenant.update",
     R_TENANT | R_BODY | R_STEPUP, h_tenant_update},
    {HTTP_METHOD_DELETE, T, "iam.tenant.manage", "iam.tenant.delete",
     R_TENANT | R_PLATFORM | R_STEPUP, h_tenant_delete},
    {HTTP_METHOD_GET, T "/users", "iam.user.read", NULL, R_TENANT, h_user_list},
    {HTTP_METHOD_POST, T "/users", "iam.user.manage", "iam.user.create",
     R_TENANT | R_BODY | R_HASH, h_user_create},
    {HTTP_METHOD_GET, U, "iam.user.read", NULL, R_TENANT, h_user_get},
    {HTTP_METHOD_PATCH, U, "iam.user.manage", "iam.user.update",
     R_TENANT | R_BODY, h_user_update},
    {HTTP_METHOD_DELETE, U, "iam.user.manage", "iam.user.delete",
     R_TENANT | R_STEPUP, h_user_delete},
    {HTTP_METHOD_POST, U "/password", "iam.user.manage",
     "iam.user.password_reset", R_TENANT | R_BODY | R_HASH | R_STEPUP,
     h_user_password_reset},
    {HTTP_METHOD_POST, U "/unlock", "iam.user.manage", "iam.user.unlock",
     R_TENANT, h_user_unlock},
    {HTTP_METHOD_GET, U "/groups", "iam.user.read", NULL, R_TENANT,
     h_user_groups},
    {HTTP_METHOD_GET, U "/sessions", "iam.user.read", NULL, R_TENANT,
     h_session_list},
    {HTTP_METHOD_DELETE, U "/sessions", "iam.user.manage",
     "iam.session.revoke_all", R_TENANT, h_session_revoke_all},
    {HTTP_METHOD_DELETE, U "/sessions/{session}", "iam.user.manage",
     "iam.session.revoke", R_TENANT, h_session_revoke},
    {HTTP_METHOD_POST, U "/totp", "iam.user.manage", "iam.mfa.totp_begin",
     R_TENANT, h_totp_begin},
    {HTTP_METHOD_POST, U "/totp/verify", "iam.user.manage",
     "iam.mfa.totp_confirm", R_TENANT | R_BODY, h_totp_confirm},
    {HTTP_METHOD_DELETE, U "/totp", "iam.user.manage", "iam.mfa.totp_disable",
     R_TENANT | R_STEPUP, h_totp_disable},
    {HTTP_METHOD_GET, U "/apikeys", "iam.user.read", NULL, R_TENANT,
     h_key_list},
    {HTTP_METHOD_POST, U "/apikeys", "iam.apikey.manage", "iam.apikey.create",
     R_TENANT | R_STEPUP | R_BODY, h_key_create},
    {HTTP_METHOD_POST, U "/apikeys/{key}/rotate", "iam.apikey.manage",
     "iam.apikey.rotate", R_TENANT | R_STEPUP, h_key_rotate},
    {HTTP_METHOD_DELETE, U "/apikeys/{key}", "iam.apikey.manage",
     "iam.apikey.revoke", R_TENANT, h_key_revoke},
    {HTTP_METHOD_GET, T "/groups", "iam.user.read", NULL, R_TENANT,
     h_group_list},
    {HTTP_METHOD_POST, T "/groups", "iam.user.manage", "iam.group.create",
     R_TENANT | R_BODY, h_group_create},
    {HTTP_METHOD_DELETE, T "/groups/{group}", "iam.user.manage",
     "iam.group.delete", R_TENANT, h_group_delete},
    {HTTP_METHOD_GET, T "/groups/{group}/members", "iam.user.read", NULL,
     R_TENANT, h_group_members},
    {HTTP_METHOD_PUT, T "/groups/{group}/members/{user}", "iam.user.manage",
     "iam.group.add_member", R_TENANT | R_STEPUP, h_member_add},
    {HTTP_METHOD_DELETE, T "/groups/{group}/members/{user}", "iam.user.manage",
     "iam.group.remove_member", R_TENANT, h_member_remove},
    {HTTP_METHOD_POST, T "/login", "public", "iam.login",
     R_PUBLIC | R_BODY | R_HASH, h_login},
    {HTTP_METHOD_POST, T "/login/mfa", "public", "iam.login_mfa",
     R_PUBLIC | R_BODY, h_login_mfa},
    {HTTP_METHOD_POST, T "/login/password", "public",
     "iam.login_password_change", R_PUBLIC | R_BODY | R_HASH,
     h_login_password},
    {HTTP_METHOD_POST, "/api/v1/iam/self/password", "iam.self",
     "iam.self.password_change", R_SELF | R_BODY | R_HASH,
     h_self_password},
    {HTTP_METHOD_GET, "/api/v1/iam/self/sessions", "iam.self", NULL, R_SELF,
     h_session_list},
    {HTTP_METHOD_GET, T "/oidc/clients", "iam.tenant.read", NULL, R_TENANT,
     h_client_list},
    {HTTP_METHOD_POST, T "/oidc/clients", "iam.policy.manage",
     "iam.oidc.client_create", R_TENANT | R_BODY | R_STEPUP,
     h_client_create},
    {HTTP_METHOD_DELETE, T "/oidc/clients/{client}", "iam.policy.manage",
     "iam.oidc.client_delete", R_TENANT, h_client_delete},
    {HTTP_METHOD_POST, T "/oidc/keys/rotate", "iam.policy.manage",
     "iam.oidc.key_rotate", R_TENANT, h_key_rotate_oidc},
    {HTTP_METHOD_GET, T "/federation/providers", "iam.tenant.read", NULL,
     R_TENANT, h_provider_list},
    {HTTP_METHOD_POST, T "/federation/providers", "iam.policy.manage",
     "iam.federation.create", R_TENANT | R_BODY | R_STEPUP,
     h_provider_create},
    {HTTP_METHOD_GET, T "/federation/providers/{provider}", "iam.tenant.read",
     NULL, R_TENANT, h_provider_get},
    {HTTP_METHOD_PATCH, T "/federation/providers/{provider}",
     "iam.policy.manage", "iam.federation.update", R_TENANT | R_BODY | R_STEPUP,
     h_provider_update},
    {HTTP_METHOD_DELETE, T "/federation/providers/{provider}",
     "iam.policy.manage", "iam.federation.delete", R_TENANT,
     h_provider_delete},
    {HTTP_METHOD_GET, T "/groups/{group}", "iam.user.read", NULL, R_TENANT,
     h_group_get},
    {HTTP_METHOD_PATCH, T "/groups/{group}", "iam.user.manage",
     "iam.group.update", R_TENANT | R_BODY, h_group_update},
    {HTTP_METHOD_GET, "/api/v1/iam/self/step-up", "iam.self", NULL, R_SELF,
     h_stepup_get},
    {HTTP_METHOD_POST, "/api/v1/iam/self/step-up", "iam.self",
     "iam.session.step_up", R_SELF | R_BODY | R_HASH, h_stepup},
    {HTTP_METHOD_POST, "/api/v1/iam/self/step-up/webauthn", "iam.self", NULL,
     R_SELF, h_stepup_webauthn},
    {HTTP_METHOD_GET, T "/mfa/roles", "iam.tenant.read", NULL, R_TENANT,
     h_mfa_roles},
    {HTTP_METHOD_PUT, T "/mfa/roles/{role}", "iam.policy.manage",
     "iam.mfa.role_require", R_TENANT, h_mfa_role_on},
    {HTTP_METHOD_DELETE, T "/mfa/roles/{role}", "iam.policy.manage",
     "iam.mfa.role_unrequire", R_TENANT | R_STEPUP, h_mfa_role_off},
    {HTTP_METHOD_POST, T "/login/enrol", "public", "iam.login_enrol_begin",
     R_PUBLIC | R_BODY, h_login_enrol},
    {HTTP_METHOD_POST, T "/login/enrol/verify", "public", "iam.login_enrol",
     R_PUBLIC | R_BODY, h_login_enrol_verify},
};

#undef T
#undef U

/*
 * Who may call a route at all, before its handler runs: the isolation
 * rule. Returns true, or false with r failed (403).
 */
static bool access_check(const struct route_spec *s, struct iam_req *r)
{
	if (s->flags & R_PUBLIC)
		return true;
	bool platform = r->caller_tenant &&
			strcmp(r->caller_tenant, IAM_PLATFORM_TENANT) == 0;
	if ((s->flags & R_PLATFORM) && !platform) {
		req_fail(r, 403, "forbidden",
			 "only platform operators may do this");
		return false;
	}
	if ((s->flags & R_TENANT) && !platform &&
	    (!r->caller_tenant || !r->tenant ||
	     strcmp(r->caller_tenant, r->tenant) != 0)) {
		req_fail(r, 403, "forbidden", "not your tenant");
		return false;
	}
	if (s->flags & R_SELF) {
		r->tenant = r->caller_tenant;
		r->user = r->caller_id;
		if (!r->tenant || !r->user) {
			req_fail(r, 403, "forbidden",
				 "this route needs a user identity");
			return false;
		}
	}
	return true;
}

/* ---------------------------------------------------------------- glue */

struct api_job {
	struct api_call *call;
	const struct route_spec *spec;
	struct iam_req req;
};

static void job_work(void *arg)
{
	struct api_job *j = arg;
	j->spec->fn(&j->req);
}

static void job_done(void *arg)
{
	struct api_job *j = arg;
	struct api_call *call = j->call;
	struct iam_req *r = &j->req;
	if (r->target[0])
		api_set_target(call, r->target);
	if (r->details[0])
		api_set_details(call, r->details);
	if (r->retry_after > 0) {
		char ra[24];
		bw_snprintf(ra, sizeof(ra), "%lld", (long long)r->retry_after);
		net_add_header(api_exchange(call), "Retry-After", ra);
	}
	if (r->failed)
		api_fail(call, r->status, r->code, r->message);
	else if (j->spec->action)
		api_reply_audited(call, r->status, AUDIT_OUTCOME_SUCCESS);
	else
		api_reply(call, r->status);
	free(j);
}

static void run(struct api_call *call, const struct route_spec *s)
{
	struct api_job *j = calloc(1, sizeof(*j));
	if (!j) {
		api_fail(call, 503, "overloaded", "out of memory");
		return;
	}
	j->call = call;
	j->spec = s;
	struct iam_req *r = &j->req;
	r->iam = api_iam;
	r->caller_tenant = api_tenant(call);
	r->caller_id = api_actor(call);
	r->caller_ip = net_peer_ip(api_exchange(call));
	r->caller_session = api_session(call);
	{
		const struct http_request *hr = net_request(api_exchange(call));
		const struct http_header *h =
		    http_header_find(hr->headers, hr->nheaders, "host");
		r->host = h ? h->value : bw_str_make(NULL, 0);
		r->tls = net_is_tls(api_exchange(call));
	}
	r->tenant = api_param(call, "tenant");
	r->user = api_param(call, "user");
	r->group = api_param(call, "group");
	r->key = api_param(call, "key");
	r->session = api_param(call, "session");
	r->client = api_param(call, "client");
	r->provider = api_param(call, "provider");
	r->role = api_param(call, "role");
	r->out = api_out(call);
	r->status = 200;
	if (s->flags & R_BODY) {
		struct bw_err err;
		r->body = api_body_json(call, &err);
		if (!r->body || r->body->type != JSON_OBJECT) {
			free(j);
			api_fail(call, 400, "bad_request",
				 "the body must be a JSON object");
			return;
		}
	} else {
		struct bw_err err;
		struct bw_str b = net_request_body(api_exchange(call));
		if (b.len)
			r->body = api_body_json(call, &err);
		if (r->body && r->body->type != JSON_OBJECT)
			r->body = NULL;
	}
	if (!access_check(s, r)) {
		job_done(j);
		return;
	}
	/* Argon2id routes queue on the identity's own pool when it has one,
	 * so a burst of logins (each ~45 ms of a core) never makes the other
	 * admin calls wait behind it on the shared pool. */
	struct tpool *pool = (s->flags & R_HASH) && api_iam->pool
				 ? api_iam->pool
				 : api_context(call)->pool;
	if (!pool) {
		job_work(j);
		job_done(j);
		return;
	}
	if (tpool_submit(pool, job_work, job_done, j, api_loop(call)) < 0) {
		free(j);
		api_fail(call, 503, "overloaded",
			 "the server is busy; retry later");
	}
}

/* One api_fn per route: api_fn receives only the call, so each route
 * gets a two-line trampoline naming its spec. */
#define TRAMPOLINE(i)                                                          \
	static void route_##i(struct api_call *c)                              \
	{                                                                      \
		run(c, &specs[i]);                                             \
	}
TRAMPOLINE(0)
TRAMPOLINE(1)
TRAMPOLINE(2)
TRAMPOLINE(3)
TRAMPOLINE(4)
TRAMPOLINE(5)
TRAMPOLINE(6)
TRAMPOLINE(7)
TRAMPOLINE(8)
TRAMPOLINE(9)
TRAMPOLINE(10)
TRAMPOLINE(11)
TRAMPOLINE(12)
TRAMPOLINE(13)
TRAMPOLINE(14)
TRAMPOLINE(15)
TRAMPOLINE(16)
TRAMPOLINE(17)
TRAMPOLINE(18)
TRAMPOLINE(19)
TRAMPOLINE(20)
TRAMPOLINE(21)
TRAMPOLINE(22)
TRAMPOLINE(23)
TRAMPOLINE(24)
TRAMPOLINE(25)
TRAMPOLINE(26)
TRAMPOLINE(27)
TRAMPOLINE(28)
TRAMPOLINE(29)
TRAMPOLINE(30)
TRAMPOLINE(31)
TRAMPOLINE(32)
TRAMPOLINE(33)
TRAMPOLINE(34)
TRAMPOLINE(35)
TRAMPOLINE(36)
TRAMPOLINE(37)
TRAMPOLINE(38)
TRAMPOLINE(39)
TRAMPOLINE(40)
TRAMPOLINE(41)
TRAMPOLINE(42)
TRAMPOLINE(43)
TRAMPOLINE(44)
TRAMPOLINE(45)
TRAMPOLINE(46)
TRAMPOLINE(47)
TRAMPOLINE(48)
TRAMPOLINE(49)
TRAMPOLINE(50)
TRAMPOLINE(51)
TRAMPOLINE(52)
TRAMPOLINE(53)
TRAMPOLINE(54)
TRAMPOLINE(55)
TRAMPOLINE(56)

static const api_fn trampolines[] = {
    route_0,  route_1,	route_2,  route_3,  route_4,  route_5,	route_6,
    route_7,  route_8,	route_9,  route_10, route_11, route_12, route_13,
    route_14, route_15, route_16, route_17, route_18, route_19, route_20,
    route_21, route_22, route_23, route_24, route_25, route_26, route_27,
    route_28, route_29, route_30, route_31, route_32, route_33, route_34,
    route_35, route_36, route_37, route_38, route_39, route_40, route_41,
    route_42, route_43, route_44, route_45, route_46, route_47, route_48,
    route_49, route_50, route_51, route_52, route_53, route_54, route_55,
    route_56,
};
_Static_assert(BW_ARRAY_LEN(trampolines) == BW_ARRAY_LEN(specs),
	       "one trampoline per route spec");

static struct api_route routes[BW_ARRAY_LEN(specs)];

int iam_api_register(struct iam *iam)
{
	if (api_iam)
		return -1; /* once per process */
	api_iam = iam;
	for (size_t i = 0; i < BW_ARRAY_LEN(specs); i++)
		routes[i] =
		    (struct api_route){.method = specs[i].method,
				       .path = specs[i].path,
				       .permission = specs[i].permission,
				       .action = specs[i].action,
				       .mutating = specs[i].action != NULL,
				       .fn = trampolines[i]};
	for (size_t i = 0; i < BW_ARRAY_LEN(specs); i++)
		if ((specs[i].flags & R_STEPUP) &&
		    api_step_up_require(&specs[i].action, 1) < 0)
			return -1;
	return api_register(routes, BW_ARRAY_LEN(routes));
}
