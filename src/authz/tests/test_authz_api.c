/* Tests for the OpenFGA-compatible HTTP handlers: includes authz_api.c and
 * stands in for the api/net layer (a call is a body, path parameters, a
 * tenant and a captured answer), so every route is exercised through the
 * real route table with OpenFGA-shaped bodies, malformed input, error
 * bodies, both mount points and tenant isolation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <unistd.h>

#include "authz/authz_api.c"
#include "store/store.h"

/* ------------------------------------------------------- the fake layer */

struct api_call {
	struct bw_buf out;
	struct bw_arena *a;
	const char *tenant;
	const char *names[4], *values[4];
	size_t nparams;
	const char *body;
	struct http_request req;
	struct api_ctx ctx;
	int status;
	bool audited;
	char target[1024];
	char details[256];
};

static struct api_call *last;

struct bw_buf *api_out(struct api_call *c) { return &c->out; }
const char *api_tenant(struct api_call *c) { return c->tenant; }
struct api_ctx *api_context(struct api_call *c) { return &c->ctx; }
struct loop *api_loop(struct api_call *c) { (void)c; return NULL; }
struct net_exchange *api_exchange(struct api_call *c) { return (struct net_exchange *)c; }
const struct http_request *net_request(const struct net_exchange *x)
{
	return &((const struct api_call *)x)->req;
}
const char *api_param(struct api_call *c, const char *name)
{
	for (size_t i = 0; i < c->nparams; i++)
		if (strcmp(c->names[i], name) == 0)
			return c->values[i];
	return NULL;
}
const struct json_value *api_body_json(struct api_call *c, struct bw_err *err)
{
	return json_parse(c->a, c->body ? c->body : "", c->body ? strlen(c->body) : 0, NULL, err);
}
void api_set_target(struct api_call *c, const char *t) { snprintf(c->target, sizeof(c->target), "%s", t); }
void api_set_details(struct api_call *c, const char *d) { snprintf(c->details, sizeof(c->details), "%s", d); }
void api_reply(struct api_call *c, int status) { c->status = status; last = c; }
void api_reply_audited(struct api_call *c, int status, enum audit_outcome o)
{
	(void)o;
	c->status = status;
	c->audited = true;
	last = c;
}
void api_fail(struct api_call *c, int status, const char *code, const char *msg)
{
	(void)code;
	(void)msg;
	c->status = status;
	last = c;
}
int tpool_submit(struct tpool *p, void (*work)(void *), void (*done)(void *), void *arg,
		 struct loop *reply)
{
	(void)p;
	(void)reply;
	work(arg);
	done(arg);
	return 0;
}
int api_register(const struct api_route *r, size_t n)
{
	(void)r;
	return n == 30 || n == BW_ARRAY_LEN(role_routes) ? 0 : -1;
}
/* The caller's actor id (the authorization subject is user:<actor>). */
static const char *cur_actor = "admin";
const char *api_actor(struct api_call *c)
{
	(void)c;
	return cur_actor;
}
int api_routes_foreach(int (*fn)(const struct api_route *r, void *arg), void *arg)
{
	for (size_t i = 0; i < BW_ARRAY_LEN(routes); i++)
		if (fn(&routes[i], arg) != 0)
			return -1;
	return 0;
}

/* Matches path against a route pattern, filling the call's params. */
static bool match(const char *pat, const char *path, struct api_call *c)
{
	c->nparams = 0;
	while (*pat && *path) {
		if (*pat == '{') {
			const char *pe = strchr(pat, '}');
			const char *se = strchr(path, '/');
			size_t sl = se ? (size_t)(se - path) : strlen(path);
			c->names[c->nparams] = bw_arena_strndup(c->a, pat + 1, (size_t)(pe - pat - 1));
			c->values[c->nparams++] = bw_arena_strndup(c->a, path, sl);
			pat = pe + 1;
			path += sl;
		} else if (*pat++ != *path++) {
			return false;
		}
	}
	return !*pat && !*path;
}

static struct authz_engine *e;
static struct store *st;
static char dir[64];
static struct bw_arena *keep;

/* One request; returns the parsed answer (or NULL for an empty body) and
 * the status in *status. */
static const struct json_value *call(const char *tenant, enum http_method m, const char *path,
				     const char *body, int *status, bool *audited)
{
	struct api_call *c = calloc(1, sizeof(*c));
	c->a = keep;
	c->tenant = tenant;
	c->body = body;
	bw_buf_init(&c->out, 4 << 20);
	char p[512];
	snprintf(p, sizeof(p), "%s", path);
	char *q = strchr(p, '?');
	if (q) {
		*q++ = 0;
		c->req.has_query = true;
		c->req.query = bw_str_make(bw_arena_strdup(keep, q), strlen(q));
	}
	const struct api_route *r = NULL;
	for (size_t i = 0; i < BW_ARRAY_LEN(routes) && !r; i++)
		if (routes[i].method == m && match(routes[i].path, p, c))
			r = &routes[i];
	for (size_t i = 0; i < BW_ARRAY_LEN(role_routes) && !r; i++)
		if (role_routes[i].method == m && match(role_routes[i].path, p, c))
			r = &role_routes[i];
	if (!r) {
		fail_msg("no route for %s", path);
		return NULL;
	}
	last = NULL;
	r->fn(c);
	assert_ptr_equal(last, c);
	*status = c->status;
	if (audited)
		*audited = c->audited;
	assert_int_equal(c->audited, r->mutating);
	struct bw_err err;
	const struct json_value *v =
		c->out.len ? json_parse(keep, c->out.data, c->out.len, NULL, &err) : NULL;
	if (c->out.len && !v)
		fail_msg("answer is not JSON: %s", c->out.data);
	bw_buf_fini(&c->out);
	free(c);
	return v;
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/authz-api-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	char path[128];
	snprintf(path, sizeof(path), "%s/state.db", dir);
	struct store_options so = { .path = path, .durability = STORE_DURABILITY_NORMAL };
	struct bw_err err;
	st = store_open(&so, &err);
	struct authz_options ao = { .store = st };
	e = st ? authz_engine_new(&ao, &err) : NULL;
	keep = bw_arena_new(1 << 20, (size_t)1 << 30);
	return e && authz_api_register(e) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	authz_engine_free(e);
	store_close(st);
	bw_arena_free(keep);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *str(const struct json_value *v, const char *k)
{
	const char *s = json_get_str(v, k, NULL);
	if (!s)
		fail_msg("answer lacks \"%s\"", k);
	return s;
}

static void test_flow(void **state)
{
	(void)state;
	int s;
	bool aud;
	char path[256], body[2048];
	const struct json_value *v = call("acme", HTTP_METHOD_POST, "/stores", "{\"name\":\"demo\"}",
					  &s, &aud);
	assert_int_equal(s, 201);
	assert_true(aud);
	char id[AUTHZ_ID_LEN + 1];
	snprintf(id, sizeof(id), "%s", str(v, "id"));
	assert_string_equal(str(v, "name"), "demo");
	str(v, "created_at");

	v = call("acme", HTTP_METHOD_GET, "/stores?page_size=10", NULL, &s, NULL);
	assert_int_equal(s, 200);
	assert_int_equal(json_get(v, "stores")->u.arr.n, 1);
	v = call("acme", HTTP_METHOD_GET, "/stores?page_size=1000", NULL, &s, NULL);
	assert_int_equal(s, 400);
	assert_string_equal(str(v, "code"), "validation_error");

	/* model: the JSON form, as an OpenFGA SDK sends it */
	const char *dsl = "model\n  schema 1.1\ntype user\ntype group\n  relations\n"
			  "    define member: [user]\ntype doc\n  relations\n"
			  "    define owner: [user]\n"
			  "    define viewer: [user, group#member, user with c] or owner\n"
			  "condition c(x: int) {\n  x > 1\n}\n";
	struct bw_err err;
	struct authz_model *m = authz_model_parse_dsl(dsl, strlen(dsl), &err);
	struct bw_buf mb;
	bw_buf_init(&mb, 1 << 20);
	struct json_writer w;
	json_writer_init(&w, &mb);
	authz_model_write_json(m, &w, false);
	assert_int_equal(json_writer_finish(&w), 0);
	authz_model_free(m);
	snprintf(path, sizeof(path), "/stores/%s/authorization-models", id);
	v = call("acme", HTTP_METHOD_POST, path, mb.data, &s, &aud);
	assert_int_equal(s, 201);
	char mid[AUTHZ_ID_LEN + 1];
	snprintf(mid, sizeof(mid), "%s", str(v, "authorization_model_id"));
	bw_buf_fini(&mb);
	v = call("acme", HTTP_METHOD_POST, path, "{\"schema_version\":\"1.1\",\"type_definitions\":[]}",
		 &s, &aud);
	assert_int_equal(s, 400);
	assert_string_equal(str(v, "code"), "invalid_authorization_model");
	v = call("acme", HTTP_METHOD_GET, path, NULL, &s, NULL);
	assert_int_equal(s, 200);
	assert_int_equal(json_get(v, "authorization_models")->u.arr.n, 1);
	snprintf(path, sizeof(path), "/stores/%s/authorization-models/%s", id, mid);
	v = call("acme", HTTP_METHOD_GET, path, NULL, &s, NULL);
	assert_int_equal(s, 200);
	assert_string_equal(json_get_str(json_get(v, "authorization_model"), "id", ""), mid);

	/* writes */
	snprintf(path, sizeof(path), "/stores/%s/write", id);
	const char *wr = "{\"writes\":{\"tuple_keys\":["
			 "{\"user\":\"user:anne\",\"relation\":\"owner\",\"object\":\"doc:1\"},"
			 "{\"user\":\"group:eng#member\",\"relation\":\"viewer\",\"object\":\"doc:2\"},"
			 "{\"user\":\"user:carl\",\"relation\":\"viewer\",\"object\":\"doc:3\","
			 "\"condition\":{\"name\":\"c\",\"context\":{\"x\":5}}}]}}";
	v = call("acme", HTTP_METHOD_POST, path, wr, &s, &aud);
	assert_int_equal(s, 200);
	v = call("acme", HTTP_METHOD_POST, path, wr, &s, &aud);
	assert_int_equal(s, 400);
	assert_string_equal(str(v, "code"), "write_failed_due_to_invalid_input");
	assert_string_equal(str(v, "reason"), "exists");
	v = call("acme", HTTP_METHOD_POST, path, "{\"writes\":[]}", &s, &aud);
	assert_int_equal(s, 400);
	v = call("acme", HTTP_METHOD_POST, path, "[1]", &s, &aud);
	assert_int_equal(s, 400);

	/* check (both mounts), contextual tuples, consistency */
	snprintf(path, sizeof(path), "/api/v1/fga/stores/%s/check", id);
	v = call("acme", HTTP_METHOD_POST, path,
		 "{\"tuple_key\":{\"user\":\"user:anne\",\"relation\":\"viewer\",\"object\":\"doc:1\"},"
		 "\"consistency\":\"HIGHER_CONSISTENCY\"}",
		 &s, NULL);
	assert_int_equal(s, 200);
	assert_true(json_get_bool(v, "allowed", false));
	snprintf(path, sizeof(path), "/stores/%s/check", id);
	v = call("acme", HTTP_METHOD_POST, path,
		 "{\"tuple_key\":{\"user\":\"user:bob\",\"relation\":\"viewer\",\"object\":\"doc:2\"},"
		 "\"contextual_tuples\":{\"tuple_keys\":[{\"user\":\"user:bob\",\"relation\":\"member\","
		 "\"object\":\"group:eng\"}]}}",
		 &s, NULL);
	assert_int_equal(s, 200);
	assert_true(json_get_bool(v, "allowed", false));
	v = call("acme", HTTP_METHOD_POST, path,
		 "{\"tuple_key\":{\"user\":\"user:bob\",\"relation\":\"viewer\",\"object\":\"doc:2\"},"
		 "\"consistency\":\"SOMETIMES\"}",
		 &s, NULL);
	assert_int_equal(s, 400);
	v = call("acme", HTTP_METHOD_POST, path,
		 "{\"tuple_key\":{\"user\":\"user:carl\",\"relation\":\"viewer\",\"object\":\"doc:3\"}}",
		 &s, NULL);
	assert_int_equal(s, 200);
	assert_true(json_get_bool(v, "allowed", false));
	v = call("acme", HTTP_METHOD_POST, path,
		 "{\"tuple_key\":{\"user\":\"user:anne\",\"relation\":\"nope\",\"object\":\"doc:1\"}}",
		 &s, NULL);
	assert_int_equal(s, 400);
	assert_string_equal(str(v, "code"), "validation_error");

	/* batch check: per-item answers and errors */
	snprintf(path, sizeof(path), "/stores/%s/batch-check", id);
	v = call("acme", HTTP_METHOD_POST, path,
		 "{\"checks\":[{\"tuple_key\":{\"user\":\"user:anne\",\"relation\":\"owner\","
		 "\"object\":\"doc:1\"},\"correlation_id\":\"a\"},{\"tuple_key\":{\"user\":\"user:anne\","
		 "\"relation\":\"bogus\",\"object\":\"doc:1\"},\"correlation_id\":\"b\"},"
		 "{\"tuple_key\":{\"user\":\"user:zed\",\"relation\":\"owner\",\"object\":\"doc:1\"},"
		 "\"correlation_id\":\"c\"}]}",
		 &s, NULL);
	assert_int_equal(s, 200);
	const struct json_value *res = json_get(v, "result");
	assert_true(json_get_bool(json_get(res, "a"), "allowed", false));
	assert_non_null(json_get(json_get(res, "b"), "error"));
	assert_false(json_get_bool(json_get(res, "c"), "allowed", true));
	assert_null(json_get(json_get(res, "c"), "error"));
	v = call("acme", HTTP_METHOD_POST, path,
		 "{\"checks\":[{\"tuple_key\":{},\"correlation_id\":\"a\"},"
		 "{\"tuple_key\":{},\"correlation_id\":\"a\"}]}",
		 &s, NULL);
	assert_int_equal(s, 400);

	/* expand, list-objects, list-users */
	snprintf(path, sizeof(path), "/stores/%s/expand", id);
	v = call("acme", HTTP_METHOD_POST, path,
		 "{\"tuple_key\":{\"relation\":\"viewer\",\"object\":\"doc:2\"}}", &s, NULL);
	assert_int_equal(s, 200);
	assert_non_null(json_get(json_get(json_get(v, "tree"), "root"), "union"));
	snprintf(path, sizeof(path), "/stores/%s/list-objects", id);
	v = call("acme", HTTP_METHOD_POST, path,
		 "{\"type\":\"doc\",\"relation\":\"viewer\",\"user\":\"user:anne\"}", &s, NULL);
	assert_int_equal(s, 200);
	assert_int_equal(json_get(v, "objects")->u.arr.n, 1);
	snprintf(path, sizeof(path), "/stores/%s/list-users", id);
	snprintf(body, sizeof(body),
		 "{\"object\":{\"type\":\"doc\",\"id\":\"2\"},\"relation\":\"viewer\","
		 "\"user_filters\":[{\"type\":\"group\",\"relation\":\"member\"}]}");
	v = call("acme", HTTP_METHOD_POST, path, body, &s, NULL);
	assert_int_equal(s, 200);
	const struct json_value *us = json_get(json_get(v, "users")->u.arr.items[0], "userset");
	assert_string_equal(str(us, "id"), "eng");
	assert_string_equal(str(us, "relation"), "member");
	v = call("acme", HTTP_METHOD_POST, path,
		 "{\"object\":{\"type\":\"doc\",\"id\":\"1\"},\"relation\":\"viewer\","
		 "\"user_filters\":[{\"type\":\"user\"}]}",
		 &s, NULL);
	assert_int_equal(s, 200);
	assert_string_equal(str(json_get(json_get(v, "users")->u.arr.items[0], "object"), "id"), "anne");
	v = call("acme", HTTP_METHOD_POST, path, "{\"object\":\"doc:1\"}", &s, NULL);
	assert_int_equal(s, 400);

	/* read and changes */
	snprintf(path, sizeof(path), "/stores/%s/read", id);
	v = call("acme", HTTP_METHOD_POST, path, "{\"page_size\":2}", &s, NULL);
	assert_int_equal(s, 200);
	assert_int_equal(json_get(v, "tuples")->u.arr.n, 2);
	assert_true(strlen(str(v, "continuation_token")) > 0);
	const struct json_value *k3 = NULL;
	v = call("acme", HTTP_METHOD_POST, path,
		 "{\"tuple_key\":{\"object\":\"doc:3\"}}", &s, NULL);
	k3 = json_get(json_get(v, "tuples")->u.arr.items[0], "key");
	assert_string_equal(json_get_str(json_get(k3, "condition"), "name", ""), "c");
	assert_int_equal(json_get_int(json_get(json_get(k3, "condition"), "context"), "x", 0), 5);
	snprintf(path, sizeof(path), "/stores/%s/changes?type=doc&page_size=50", id);
	v = call("acme", HTTP_METHOD_GET, path, NULL, &s, NULL);
	assert_int_equal(s, 200);
	assert_int_equal(json_get(v, "changes")->u.arr.n, 3);
	assert_string_equal(str(json_get(v, "changes")->u.arr.items[0], "operation"),
			    "TUPLE_OPERATION_WRITE");

	/* another tenant sees nothing */
	snprintf(path, sizeof(path), "/stores/%s", id);
	v = call("globex", HTTP_METHOD_GET, path, NULL, &s, NULL);
	assert_int_equal(s, 404);
	assert_string_equal(str(v, "code"), "store_id_not_found");
	v = call("globex", HTTP_METHOD_DELETE, path, NULL, &s, &aud);
	assert_int_equal(s, 404);
	/* delete */
	v = call("acme", HTTP_METHOD_DELETE, path, NULL, &s, &aud);
	assert_int_equal(s, 204);
	assert_null(v);
	v = call("acme", HTTP_METHOD_GET, path, NULL, &s, NULL);
	assert_int_equal(s, 404);
}

static size_t count_assignments(const char *tenant, const char *as, const char *role,
				const char *subject)
{
	char path[256];
	int s;
	snprintf(path, sizeof(path), "/api/v1/authz/tenants/%s/role-assignments", tenant);
	const struct json_value *v = call(as, HTTP_METHOD_GET, path, NULL, &s, NULL);
	assert_int_equal(s, 200);
	const struct json_value *a = json_get(v, "assignments");
	assert_non_null(a);
	size_t n = 0;
	for (size_t i = 0; i < a->u.arr.n; i++)
		n += strcmp(str(a->u.arr.items[i], "role"), role) == 0 &&
		     strcmp(str(a->u.arr.items[i], "subject"), subject) == 0;
	return n;
}

/* Role grants: through the role routes only, tenant-bound, platform-admin
 * minted only by platform-admin; the platform store is invisible to the
 * generic API (no escalation through authz.tuple.write). */
static void test_roles(void **state)
{
	(void)state;
	int s;
	bool aud;
	struct bw_err err;
	assert_int_equal(authz_platform_init(e, "platform", &err), 0);
	assert_int_equal(authz_platform_assign(e, "platform", "user:admin", "platform-admin", true,
					       &err), 0);
	/* a new tenant's platform store is made on its first grant */
	assert_false(authz_platform_has_store(e, "initech"));
	cur_actor = "admin";
	const struct json_value *v =
		call("platform", HTTP_METHOD_PUT,
		     "/api/v1/authz/tenants/initech/roles/key-admin/members/user:kim", NULL, &s, &aud);
	assert_int_equal(s, 200);
	assert_true(aud);
	assert_true(json_get_bool(v, "granted", false));
	assert_true(authz_platform_has_store(e, "initech"));
	assert_true(authz_platform_check(e, "initech", "user:kim", "kms.key.manage"));
	assert_false(authz_platform_check(e, "initech", "user:kim", "kms.key.use"));
	assert_int_equal(count_assignments("initech", "initech", "key-admin", "user:kim"), 1);
	/* idempotent grant; a percent-encoded userset subject */
	call("platform", HTTP_METHOD_PUT,
	     "/api/v1/authz/tenants/initech/roles/key-admin/members/user:kim", NULL, &s, NULL);
	assert_int_equal(s, 200);
	call("initech", HTTP_METHOD_PUT,
	     "/api/v1/authz/tenants/initech/roles/auditor/members/group:audit%23member", NULL, &s,
	     NULL);
	assert_int_equal(s, 200);
	assert_int_equal(count_assignments("initech", "initech", "auditor", "group:audit#member"), 1);
	assert_int_equal(count_assignments("initech", "initech", "key-admin", "user:kim"), 1);

	/* another tenant's caller: 403, for reads and writes */
	call("globex", HTTP_METHOD_PUT,
	     "/api/v1/authz/tenants/initech/roles/tenant-admin/members/user:eve", NULL, &s, &aud);
	assert_int_equal(s, 403);
	assert_true(aud);
	call("globex", HTTP_METHOD_GET, "/api/v1/authz/tenants/initech/role-assignments", NULL, &s,
	     NULL);
	assert_int_equal(s, 403);
	assert_false(authz_platform_check(e, "initech", "user:eve", "platform.system.read"));

	/* hostile or malformed input */
	static const char *const bad_paths[] = {
		"/api/v1/authz/tenants/initech/roles/root/members/user:kim",
		"/api/v1/authz/tenants/initech/roles/platform-admin/members/user:kim",
		"/api/v1/authz/tenants/initech/roles/viewer/members/user:kim%00x",
		"/api/v1/authz/tenants/initech/roles/viewer/members/user:kim%2",
		"/api/v1/authz/tenants/initech/roles/viewer/members/user:kim%zz",
		"/api/v1/authz/tenants/initech/roles/viewer/members/group:audit",
		"/api/v1/authz/tenants/initech/roles/viewer/members/tenant:initech",
		"/api/v1/authz/tenants/initech/roles/viewer/members/nobody",
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(bad_paths); i++) {
		call("initech", HTTP_METHOD_PUT, bad_paths[i], NULL, &s, NULL);
		if (s != 400 && s != 403)
			fail_msg("%s: %d", bad_paths[i], s);
	}
	char longp[4096];
	int n = snprintf(longp, sizeof(longp),
			 "/api/v1/authz/tenants/initech/roles/viewer/members/user:");
	memset(longp + n, 'a', 400);
	longp[n + 400] = 0;
	call("initech", HTTP_METHOD_PUT, longp, NULL, &s, NULL);
	assert_int_equal(s, 400);

	/* platform-admin: only in the platform tenant, only from platform-admin */
	assert_int_equal(authz_platform_assign(e, "platform", "user:ta", "tenant-admin", true, &err),
			 0);
	cur_actor = "ta";
	call("platform", HTTP_METHOD_PUT,
	     "/api/v1/authz/tenants/platform/roles/platform-admin/members/user:ta", NULL, &s, &aud);
	assert_int_equal(s, 403);
	assert_true(aud);
	assert_false(authz_platform_check(e, "platform", "user:ta", "platform.tenant.manage"));
	cur_actor = "admin";
	call("platform", HTTP_METHOD_PUT,
	     "/api/v1/authz/tenants/platform/roles/platform-admin/members/user:ta", NULL, &s, NULL);
	assert_int_equal(s, 200);
	assert_true(authz_platform_check(e, "platform", "user:ta", "platform.tenant.manage"));
	call("platform", HTTP_METHOD_DELETE,
	     "/api/v1/authz/tenants/platform/roles/platform-admin/members/user:ta", NULL, &s, &aud);
	assert_int_equal(s, 200);
	assert_true(aud);
	assert_false(authz_platform_check(e, "platform", "user:ta", "platform.tenant.manage"));

	/* revoke */
	call("initech", HTTP_METHOD_DELETE,
	     "/api/v1/authz/tenants/initech/roles/key-admin/members/user:kim", NULL, &s, NULL);
	assert_int_equal(s, 200);
	assert_false(authz_platform_check(e, "initech", "user:kim", "kms.key.manage"));
	assert_int_equal(count_assignments("initech", "initech", "key-admin", "user:kim"), 0);
	call("nowhere", HTTP_METHOD_DELETE,
	     "/api/v1/authz/tenants/nowhere/roles/viewer/members/user:kim", NULL, &s, NULL);
	assert_int_equal(s, 200);
	assert_false(authz_platform_has_store(e, "nowhere"));

	/* the platform store does not exist for the generic API */
	v = call("initech", HTTP_METHOD_GET, "/stores", NULL, &s, NULL);
	assert_int_equal(s, 200);
	const struct json_value *stores = json_get(v, "stores");
	for (size_t i = 0; i < stores->u.arr.n; i++)
		assert_string_not_equal(str(stores->u.arr.items[i], "name"), AUTHZ_PLATFORM_STORE);
	char pid[AUTHZ_ID_LEN + 1] = "";
	struct authz_store_info infos[8];
	size_t ninfo;
	assert_int_equal(authz_store_list(e, "initech", NULL, 8, infos, &ninfo, &err), 0);
	for (size_t i = 0; i < ninfo; i++)
		if (strcmp(infos[i].name, AUTHZ_PLATFORM_STORE) == 0)
			memcpy(pid, infos[i].id, sizeof(pid));
	assert_true(authz_platform_store_is(e, "initech", pid));
	static const char *const paths[] = { "", "/write", "/read", "/authorization-models" };
	static const enum http_method ms[] = { HTTP_METHOD_DELETE, HTTP_METHOD_POST,
					       HTTP_METHOD_POST, HTTP_METHOD_POST };
	for (size_t i = 0; i < BW_ARRAY_LEN(paths); i++) {
		char path[256];
		snprintf(path, sizeof(path), "/stores/%s%s", pid, paths[i]);
		v = call("initech", ms[i], path,
			 "{\"writes\":{\"tuple_keys\":[{\"user\":\"user:eve\",\"relation\":"
			 "\"tenant_admin\",\"object\":\"tenant:initech\"}]}}",
			 &s, NULL);
		assert_int_equal(s, 404);
		assert_string_equal(str(v, "code"), "store_id_not_found");
	}
	assert_false(authz_platform_check(e, "initech", "user:eve", "iam.user.manage"));
	call("initech", HTTP_METHOD_POST, "/stores", "{\"name\":\"" AUTHZ_PLATFORM_STORE "\"}", &s,
	     NULL);
	assert_int_equal(s, 400);

	/* the role table and the route listing */
	v = call("initech", HTTP_METHOD_GET, "/api/v1/authz/roles", NULL, &s, NULL);
	assert_int_equal(s, 200);
	const struct json_value *roles_v = json_get(v, "roles");
	assert_int_equal(roles_v->u.arr.n, AUTHZ_PLATFORM_NROLES);
	const struct json_value *ku = roles_v->u.arr.items[7];
	assert_string_equal(str(ku, "name"), "key-user");
	bool uses = false;
	for (size_t i = 0; i < json_get(ku, "permissions")->u.arr.n; i++)
		uses |= strcmp(json_get(ku, "permissions")->u.arr.items[i]->u.str.p,
			       "kms.key.use") == 0;
	assert_true(uses);
	v = call("initech", HTTP_METHOD_GET, "/api/v1/authz/routes", NULL, &s, NULL);
	assert_int_equal(s, 200);
	assert_int_equal(json_get(v, "routes")->u.arr.n, BW_ARRAY_LEN(routes));
	assert_string_equal(str(json_get(v, "routes")->u.arr.items[0], "permission"),
			    "authz.store.manage");
}

int main(void)
{
	log_init("test", BW_LOG_WARN, 2);
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_flow),
					    cmocka_unit_test(test_roles) };
	return cmocka_run_group_tests(tests, setup, teardown);
}
