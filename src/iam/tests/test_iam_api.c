/* Unit tests for the identity REST handlers, driven directly (no HTTP):
 * the tenant isolation matrix (tenant A credentials against every tenant B
 * route and against B's object ids inside A's routes: always refused),
 * platform-only routes, the login sequence with generic failures and
 * 429 throttling, TOTP enrolment over the API, API keys, and that no
 * secret ever lands in an audit target or details. Includes iam_api.c to
 * reach the route specs and the access check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iam/iam_api.c"

#define PW "correct horse battery staple"

static char dir[64];
static struct store *st;
static struct iam *iam;
static struct bw_err err;
static struct bw_arena *arena;
static struct bw_buf out;

static int setup(void **state)
{
	bw_clock_set(1700000000LL * 1000000000LL);
	bw_snprintf(dir, sizeof(dir), "/tmp/bw-iam-api-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	char path[128];
	bw_snprintf(path, sizeof(path), "%s/state.db", dir);
	struct store_options so = { .path = path, .durability = STORE_DURABILITY_NORMAL };
	st = store_open(&so, &err);
	if (!st)
		return -1;
	struct iam_options o = { .store = st };
	uint8_t key[32] = { 9 };
	if (iam_sealer_local(&o.sealer, key, &err) < 0)
		return -1;
	iam = iam_new(&o, &err);
	arena = bw_arena_new(8192, 16 << 20);
	bw_buf_init(&out, 1 << 20);
	return iam && arena ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[160];
	iam_free(iam);
	store_close(st);
	bw_arena_free(arena);
	bw_buf_fini(&out);
	bw_snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	bw_clock_set(0);
	return system(cmd) == 0 ? 0 : -1;
}

struct who {
	const char *tenant, *id;
};

struct params {
	const char *tenant, *user, *group, *key, *session;
};

static const struct route_spec *find_spec(enum http_method m, const char *path)
{
	for (size_t i = 0; i < BW_ARRAY_LEN(specs); i++)
		if (specs[i].method == m && strcmp(specs[i].path, path) == 0)
			return &specs[i];
	fail_msg("no route %s", path);
	return NULL;
}

/* Runs one route like the glue does (access check, then the handler)
 * and returns the request with its outcome; the response is in `out`. */
static struct iam_req do_call(const struct route_spec *s, struct who w, struct params p,
			      const char *body)
{
	struct iam_req r = { .iam = iam, .caller_tenant = w.tenant, .caller_id = w.id,
			     .caller_ip = "192.0.2.1", .tenant = p.tenant, .user = p.user,
			     .group = p.group, .key = p.key, .session = p.session,
			     .out = &out, .status = 200 };
	bw_buf_reset(&out);
	if (body) {
		r.body = json_parse(arena, body, strlen(body), NULL, &err);
		assert_non_null(r.body);
	}
	if (access_check(s, &r))
		s->fn(&r);
	return r;
}

static struct iam_req call(enum http_method m, const char *path, struct who w,
			   struct params p, const char *body)
{
	return do_call(find_spec(m, path), w, p, body);
}

/* A string member of the last response, copied into buf. */
static const char *out_str(const char *key, char *buf, size_t cap)
{
	const struct json_value *v = json_parse(arena, out.data, out.len, NULL, &err);
	assert_non_null(v);
	const char *s = json_get_str(v, key, NULL);
	if (!s)
		fail_msg("no \"%s\" in %s", key, out.data);
	bw_snprintf(buf, cap, "%s", s);
	return buf;
}

static const struct who platform = { IAM_PLATFORM_TENANT, "bootstrap" };

#define T "/api/v1/iam/tenants/{tenant}"
#define U T "/users/{user}"

/* Creates tenant name and user alice (with PW); OUT: the user id. */
static void fixture(const char *tenant, char uid[IAM_ID_LEN + 1], char gid[IAM_ID_LEN + 1])
{
	char body[128];
	bw_snprintf(body, sizeof(body), "{\"name\":\"%s\"}", tenant);
	struct iam_req r = call(HTTP_METHOD_POST, "/api/v1/iam/tenants", platform,
				(struct params){ 0 }, body);
	assert_int_equal(r.status, 201);
	r = call(HTTP_METHOD_POST, T "/users", platform, (struct params){ .tenant = tenant },
		 "{\"name\":\"alice\",\"password\":\"" PW "\",\"attributes\":{\"team\":\"red\"}}");
	if (r.status != 201)
		fail_msg("user create: %d %s %s", r.status, r.code, r.message);
	out_str("id", uid, IAM_ID_LEN + 1);
	r = call(HTTP_METHOD_POST, T "/groups", platform, (struct params){ .tenant = tenant },
		 "{\"name\":\"ops\"}");
	assert_int_equal(r.status, 201);
	out_str("id", gid, IAM_ID_LEN + 1);
}

static void isolation_matrix(void **state)
{
	char ua[IAM_ID_LEN + 1], ub[IAM_ID_LEN + 1], ga[IAM_ID_LEN + 1], gb[IAM_ID_LEN + 1];
	fixture("ta", ua, ga);
	fixture("tb", ub, gb);
	/* A key and a session in tb. */
	struct iam_req r = call(HTTP_METHOD_POST, U "/apikeys", platform,
				(struct params){ .tenant = "tb", .user = ub }, "{\"name\":\"k\"}");
	assert_int_equal(r.status, 201);
	const struct json_value *kv = json_parse(arena, out.data, out.len, NULL, &err);
	const char *kb = json_get_str(json_get(kv, "key"), "id", NULL);
	assert_non_null(kb);
	struct iam_login_result lr;
	struct iam_login_request lq = { "tb", "alice", PW, strlen(PW), "192.0.2.7" };
	iam_login(iam, &lq, &lr);
	assert_int_equal(lr.status, IAM_LOGIN_OK);
	struct iam_principal pb;
	assert_int_equal(iam_authenticate_bearer(iam, lr.session_token,
						 strlen(lr.session_token), &pb), 0);

	/* 1. A tenant-A caller against every tenant-B route: 403, before
	 *    any handler runs. */
	struct who a = { "ta", ua };
	int checked = 0;
	for (size_t i = 0; i < BW_ARRAY_LEN(specs); i++) {
		const struct route_spec *s = &specs[i];
		if (s->flags & (R_PUBLIC | R_SELF))
			continue;
		struct params p = { .tenant = "tb", .user = ub, .group = gb, .key = kb,
				    .session = pb.credential_id };
		r = do_call(s, a, p, "{}");
		if (r.status != 403)
			fail_msg("%s %s: %d", http_method_name(s->method), s->path, r.status);
		checked++;
	}
	assert_true(checked >= 28);
	/* 2. Inside its own tenant, B's object ids are not found. */
	for (size_t i = 0; i < BW_ARRAY_LEN(specs); i++) {
		const struct route_spec *s = &specs[i];
		if (!(s->flags & R_TENANT) || (s->flags & R_PLATFORM))
			continue;
		bool names_object = strstr(s->path, "{user}") || strstr(s->path, "{group}") ||
				    strstr(s->path, "{key}") || strstr(s->path, "{session}");
		if (!names_object)
			continue;
		struct params p = { .tenant = "ta", .user = ub, .group = gb, .key = kb,
				    .session = pb.credential_id };
		const char *body = "{}";
		if (strstr(s->path, "/password"))
			body = "{\"password\":\"a fine new password\"}";
		else if (strstr(s->path, "/totp/verify"))
			body = "{\"code\":\"123456\"}";
		else if (strstr(s->path, "/apikeys") && s->method == HTTP_METHOD_POST &&
			 !strstr(s->path, "rotate"))
			body = "{\"name\":\"x\"}";
		r = do_call(s, a, p, body);
		if (r.status != 404)
			fail_msg("%s %s with B's ids: %d %s", http_method_name(s->method), s->path,
				 r.status, r.code);
	}
	/* Mixed: A's group with B's user. */
	r = call(HTTP_METHOD_PUT, T "/groups/{group}/members/{user}", a,
		 (struct params){ .tenant = "ta", .group = ga, .user = ub }, NULL);
	assert_int_equal(r.status, 404);
	/* B's objects are intact. */
	assert_int_equal(iam_authenticate_bearer(iam, lr.session_token, strlen(lr.session_token),
						 &pb), 0);
	struct iam_user u;
	assert_int_equal(iam_user_get(iam, "tb", ub, &u, &err), 0);
	/* 3. Platform-only routes refuse tenant callers. */
	r = call(HTTP_METHOD_GET, "/api/v1/iam/tenants", a, (struct params){ 0 }, NULL);
	assert_int_equal(r.status, 403);
	r = call(HTTP_METHOD_POST, "/api/v1/iam/tenants", a, (struct params){ 0 },
		 "{\"name\":\"tc\"}");
	assert_int_equal(r.status, 403);
	r = call(HTTP_METHOD_DELETE, T, a, (struct params){ .tenant = "ta" }, NULL);
	assert_int_equal(r.status, 403);
	/* ...while the tenant's own routes work for it. */
	r = call(HTTP_METHOD_GET, U, a, (struct params){ .tenant = "ta", .user = ua }, NULL);
	assert_int_equal(r.status, 200);
	/* 4. Self routes act on the caller only. */
	r = call(HTTP_METHOD_GET, "/api/v1/iam/self/sessions", (struct who){ "tb", ub },
		 (struct params){ .tenant = "ta", .user = ua }, NULL);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(out.data, pb.credential_id));
	r = call(HTTP_METHOD_GET, "/api/v1/iam/self/sessions", (struct who){ "ta", NULL },
		 (struct params){ 0 }, NULL);
	assert_int_equal(r.status, 403);
}

static void login_over_api(void **state)
{
	char uid[IAM_ID_LEN + 1], gid[IAM_ID_LEN + 1], tok[IAM_TOKEN_MAX], msg1[200];
	fixture("tl", uid, gid);
	const struct who anon = { NULL, NULL };
	struct params p = { .tenant = "tl" };
	struct iam_req r = call(HTTP_METHOD_POST, T "/login", anon, p,
				"{\"username\":\"alice\",\"password\":\"" PW "\"}");
	assert_int_equal(r.status, 200);
	out_str("session_token", tok, sizeof(tok));
	assert_memory_equal(tok, "bws_", 4);
	/* The token is in the body only, never in audit target/details. */
	assert_null(strstr(r.details, tok));
	assert_null(strstr(r.target, tok));
	/* Wrong password and unknown user: one answer. */
	r = call(HTTP_METHOD_POST, T "/login", anon, p,
		 "{\"username\":\"alice\",\"password\":\"nope nope nope\"}");
	assert_int_equal(r.status, 401);
	assert_string_equal(r.code, "invalid_credentials");
	bw_snprintf(msg1, sizeof(msg1), "%s", r.message);
	r = call(HTTP_METHOD_POST, T "/login", anon, p,
		 "{\"username\":\"mallory\",\"password\":\"nope nope nope\"}");
	assert_int_equal(r.status, 401);
	assert_string_equal(r.message, msg1);
	r = call(HTTP_METHOD_POST, T "/login", anon, (struct params){ .tenant = "nosuch" },
		 "{\"username\":\"alice\",\"password\":\"" PW "\"}");
	assert_int_equal(r.status, 401);
	assert_string_equal(r.message, msg1);
	/* Bad bodies. */
	r = call(HTTP_METHOD_POST, T "/login", anon, p, "{\"username\":\"alice\"}");
	assert_int_equal(r.status, 400);
	r = call(HTTP_METHOD_POST, T "/login", anon, p,
		 "{\"username\":7,\"password\":\"x\"}");
	assert_int_equal(r.status, 400);
	/* Throttling: 429 with Retry-After. */
	for (int i = 0; i < 6; i++)
		call(HTTP_METHOD_POST, T "/login", anon, p,
		     "{\"username\":\"alice\",\"password\":\"nope nope nope\"}");
	r = call(HTTP_METHOD_POST, T "/login", anon, p,
		 "{\"username\":\"alice\",\"password\":\"" PW "\"}");
	assert_int_equal(r.status, 429);
	assert_true(r.retry_after > 0);
	/* Admin unlock lifts it. */
	r = call(HTTP_METHOD_POST, U "/unlock", platform,
		 (struct params){ .tenant = "tl", .user = uid }, NULL);
	assert_int_equal(r.status, 200);
	r = call(HTTP_METHOD_POST, T "/login", anon, p,
		 "{\"username\":\"alice\",\"password\":\"" PW "\"}");
	assert_int_equal(r.status, 200);
}

static void totp_and_keys_over_api(void **state)
{
	char uid[IAM_ID_LEN + 1], gid[IAM_ID_LEN + 1], secret[128], ch[IAM_TOKEN_MAX];
	fixture("tm", uid, gid);
	struct params p = { .tenant = "tm", .user = uid };
	struct iam_req r = call(HTTP_METHOD_POST, U "/totp", platform, p,
				"{\"issuer\":\"ACME\",\"digits\":6}");
	assert_int_equal(r.status, 201);
	out_str("secret", secret, sizeof(secret));
	assert_non_null(strstr(out.data, "\"qr_svg\":\"<svg"));
	assert_null(strstr(r.details, secret));
	/* Decode the base32 secret and confirm with the current code. */
	uint8_t sec[64];
	size_t n = 0;
	uint32_t buf = 0;
	int bits = 0;
	for (const char *c = secret; *c; c++) {
		buf = (buf << 5) | (uint32_t)(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", *c) -
					      "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567");
		bits += 5;
		if (bits >= 8) {
			sec[n++] = (uint8_t)(buf >> (bits - 8));
			bits -= 8;
		}
	}
	char code[16], body[64];
	assert_int_equal(iam_hotp(sec, n, IAM_TOTP_SHA1, 6, (uint64_t)(bw_clock_now_s() / 30),
				  code), 0);
	bw_snprintf(body, sizeof(body), "{\"code\":\"%s\"}", code);
	r = call(HTTP_METHOD_POST, U "/totp/verify", platform, p, body);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(out.data, "recovery_codes"));
	/* Login now stops at the MFA step. */
	r = call(HTTP_METHOD_POST, T "/login", (struct who){ 0 }, p,
		 "{\"username\":\"alice\",\"password\":\"" PW "\"}");
	assert_int_equal(r.status, 200);
	out_str("challenge", ch, sizeof(ch));
	bw_clock_advance(30LL * 1000000000LL);
	assert_int_equal(iam_hotp(sec, n, IAM_TOTP_SHA1, 6, (uint64_t)(bw_clock_now_s() / 30),
				  code), 0);
	char mb[256];
	bw_snprintf(mb, sizeof(mb), "{\"challenge\":\"%s\",\"code\":\"%s\"}", ch, code);
	r = call(HTTP_METHOD_POST, T "/login/mfa", (struct who){ 0 }, p, mb);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(out.data, "session_token"));
	r = call(HTTP_METHOD_POST, T "/login/mfa", (struct who){ 0 }, p, mb);
	assert_int_equal(r.status, 401); /* spent */
	/* API keys: token in the body once, key id in the details. */
	r = call(HTTP_METHOD_POST, U "/apikeys", platform, p,
		 "{\"name\":\"ci\",\"scopes\":\"iam.read\",\"ttl_s\":3600}");
	assert_int_equal(r.status, 201);
	char token[IAM_APIKEY_LEN + 1];
	out_str("token", token, sizeof(token));
	assert_true(iam_apikey_looks_valid(token, strlen(token)));
	assert_null(strstr(r.details, token));
	assert_non_null(strstr(r.details, "key_id"));
	r = call(HTTP_METHOD_GET, U "/apikeys", platform, p, NULL);
	assert_int_equal(r.status, 200);
	assert_null(strstr(out.data, token));
	r = call(HTTP_METHOD_POST, U "/apikeys", platform, p, "{\"name\":\"ci\",\"ttl_s\":-1}");
	assert_int_equal(r.status, 400);
	/* Users: get shows attributes, update, disable, delete. */
	r = call(HTTP_METHOD_GET, U, platform, p, NULL);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(out.data, "\"attributes\":{\"team\":\"red\"}"));
	assert_non_null(strstr(out.data, "\"mfa_enrolled\":true"));
	assert_null(strstr(out.data, "argon2"));
	r = call(HTTP_METHOD_PATCH, U, platform, p, "{\"attributes\":[1]}");
	assert_int_equal(r.status, 400);
	r = call(HTTP_METHOD_PATCH, U, platform, p,
		 "{\"email\":\"a@example.com\",\"disabled\":true}");
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(out.data, "\"disabled\":true"));
	r = call(HTTP_METHOD_PUT, T "/groups/{group}/members/{user}", platform,
		 (struct params){ .tenant = "tm", .group = gid, .user = uid }, NULL);
	assert_int_equal(r.status, 200);
	r = call(HTTP_METHOD_GET, T "/groups/{group}/members", platform,
		 (struct params){ .tenant = "tm", .group = gid }, NULL);
	assert_non_null(strstr(out.data, uid));
	r = call(HTTP_METHOD_POST, U "/password", platform, p, "{\"password\":\"short\"}");
	assert_int_equal(r.status, 400);
	assert_string_equal(r.code, "too_short");
	r = call(HTTP_METHOD_DELETE, U, platform, p, NULL);
	assert_int_equal(r.status, 200);
	r = call(HTTP_METHOD_GET, U, platform, p, NULL);
	assert_int_equal(r.status, 404);
	/* Tenant policy over the API. */
	r = call(HTTP_METHOD_PATCH, T, platform, (struct params){ .tenant = "tm" },
		 "{\"policy\":{\"pw_min_length\":20}}");
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(out.data, "\"pw_min_length\":20"));
	r = call(HTTP_METHOD_PATCH, T, platform, (struct params){ .tenant = "tm" },
		 "{\"policy\":{\"pw_max_length\":10}}");
	assert_int_equal(r.status, 400);
	r = call(HTTP_METHOD_PATCH, T, platform, (struct params){ .tenant = "platform" },
		 "{\"disabled\":true}");
	assert_int_equal(r.status, 403);
}

int main(void)
{
	log_init("test", BW_LOG_ERROR, 2);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(isolation_matrix, setup, teardown),
		cmocka_unit_test_setup_teardown(login_over_api, setup, teardown),
		cmocka_unit_test_setup_teardown(totp_and_keys_over_api, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
