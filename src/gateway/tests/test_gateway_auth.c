/*
 * Edge authentication's pure parts: the signed identity header (format,
 * encoding of hostile values, a signature an upstream can recompute and
 * that changes with every bound field), authz object templates over path
 * segments (missing, empty and hostile segments refused), and the config
 * checks gateway_new applies to auth routes (no identity key, a key file
 * others can read, a short key, jwt without keys, authz without auth).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/conf.h"
#include "crypto/crypto.h"
#include "gateway/gateway_int.h"

static const uint8_t key[32] = "0123456789abcdef0123456789abcdef";

static void sign(const struct gateway_principal *p, const char *method,
		 const char *target, char *val, char *sig)
{
	assert_int_equal(gw_identity_sign(key, sizeof(key), p, "api", "rid1", 1700000000,
					  bw_str_make(method, strlen(method)),
					  bw_str_make(target, strlen(target)), val, 1024,
					  sig, 64),
			 0);
}

static void identity_header_format_and_signature(void **state)
{
	struct gateway_principal p = { .kind = "jwt", .tenant = "acme", .subject = "alice",
				       .issuer = "https://idp.example/" };
	char val[1024], sig[64];
	sign(&p, "GET", "/api/x?y=1", val, sig);
	assert_string_equal(val, "v=1;kind=jwt;tenant=acme;sub=alice;"
				 "iss=https://idp.example/;route=api;rid=rid1;ts=1700000000");
	/* what an upstream does: HMAC over the documented message */
	char msg[2048];
	int n = snprintf(msg, sizeof(msg), "bulwark-identity-v1\nGET\n/api/x?y=1\n%s", val);
	uint8_t mac[32];
	struct bw_err err;
	assert_int_equal(crypto_hmac(CRYPTO_SHA256, key, sizeof(key), msg, (size_t)n, mac,
				     &err), 0);
	char b64[64] = "v1=";
	size_t e = crypto_b64url_encode_to(mac, sizeof(mac), b64 + 3);
	b64[3 + e] = '\0';
	assert_string_equal(sig, b64);
	/* the signature binds method and target */
	char val2[1024], sig2[64];
	sign(&p, "POST", "/api/x?y=1", val2, sig2);
	assert_string_equal(val, val2);
	assert_string_not_equal(sig, sig2);
	sign(&p, "GET", "/api/x?y=2", val2, sig2);
	assert_string_not_equal(sig, sig2);
}

static void identity_values_cannot_forge_fields(void **state)
{
	/* a subject trying to smuggle its own fields or header lines */
	struct gateway_principal p = { .kind = "session", .tenant = "t",
				       .subject = "eve;sub=admin",
				       .name = "a\r\nX-Evil: 1", .scopes = "read write" };
	char val[1024], sig[64];
	sign(&p, "GET", "/", val, sig);
	assert_non_null(strstr(val, "sub=eve%3Bsub%3Dadmin;"));
	assert_non_null(strstr(val, "name=a%0D%0AX%2DEvil%3A%201") ||
			strstr(val, "name=a%0D%0AX-Evil:%201"));
	assert_null(strchr(val, '\r'));
	assert_null(strchr(val, ' '));
	assert_non_null(strstr(val, "scopes=read%20write;"));
	/* a value too large for the buffer fails instead of truncating */
	char small[40];
	assert_int_equal(gw_identity_sign(key, sizeof(key), &p, "api", "rid", 1,
					  BW_STR("GET"), BW_STR("/"), small, sizeof(small),
					  sig, sizeof(sig)),
			 -1);
}

static void authz_objects_from_path_segments(void **state)
{
	char out[64];
	struct bw_str pre = BW_STR("/docs");
	assert_int_equal(gw_authz_object("document:{1}", pre, BW_STR("/docs/42/edit"), out,
					 sizeof(out)), 0);
	assert_string_equal(out, "document:42");
	assert_int_equal(gw_authz_object("folder:{2}", pre, BW_STR("/docs/42//x"), out,
					 sizeof(out)), 0);
	assert_string_equal(out, "folder:x");
	/* route "/" : segments of the whole path */
	assert_int_equal(gw_authz_object("doc:{1}", BW_STR("/"), BW_STR("/a/b"), out,
					 sizeof(out)), 0);
	assert_string_equal(out, "doc:a");
	/* missing segment, bad templates, hostile ids */
	assert_int_equal(gw_authz_object("document:{3}", pre, BW_STR("/docs/42"), out,
					 sizeof(out)), -1);
	assert_int_equal(gw_authz_object("document:{1", pre, BW_STR("/docs/42"), out,
					 sizeof(out)), -1);
	assert_int_equal(gw_authz_object("document:{x}", pre, BW_STR("/docs/42"), out,
					 sizeof(out)), -1);
	assert_int_equal(gw_authz_object("document:{}", pre, BW_STR("/docs/42"), out,
					 sizeof(out)), -1);
	assert_int_equal(gw_authz_object("document:{1}", pre, BW_STR("/docs/a#viewer"), out,
					 sizeof(out)), -1);
	assert_int_equal(gw_authz_object("document:{1}", pre, BW_STR("/docs/x:y"), out,
					 sizeof(out)), -1);
	assert_int_equal(gw_authz_object("document:{1}", pre, BW_STR("/docs/%2e"), out,
					 sizeof(out)), -1);
	char tiny[8];
	assert_int_equal(gw_authz_object("document:{1}", pre, BW_STR("/docs/42"), tiny,
					 sizeof(tiny)), -1);
}

/* gateway_new on a YAML gateway section; NULL with err on refusal. */
static struct gateway *build(const char *yaml, struct bw_err *err)
{
	struct bw_arena *a = bw_arena_new(16384, 1 << 20);
	struct conf_doc *doc = conf_load_string("t.yaml", yaml, strlen(yaml), a, err);
	struct gateway_conf gc;
	struct gateway *gw = NULL;
	if (doc && gateway_conf_bind(conf_get(doc->root, "gateway"), a, &gc, err) == 0)
		gw = gateway_new(&gc, err);
	bw_arena_free(a);
	return gw;
}

static void auth_config_is_checked(void **state)
{
	struct bw_err err;
	char kpath[] = "/tmp/bwgw-idkey.XXXXXX";
	int fd = mkstemp(kpath);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, key, sizeof(key)), (ssize_t)sizeof(key));
	close(fd);
	char y[1024];
	/* a session route needs the identity key */
	const char *route = "  routes: [ { name: r, path: /, upstream: u, auth: session } ]\n";
	snprintf(y, sizeof(y), "gateway:\n  upstreams: [ { name: u, servers: [\"127.0.0.1:9\"] } ]\n%s",
		 route);
	assert_null(build(y, &err));
	assert_string_equal(err.reason, "no_identity_key");
	/* with a 0600 key: fine */
	snprintf(y, sizeof(y), "gateway:\n  identity: { key_file: %s }\n"
		 "  upstreams: [ { name: u, servers: [\"127.0.0.1:9\"] } ]\n%s", kpath, route);
	struct gateway *gw = build(y, &err);
	assert_non_null(gw);
	gateway_free(gw);
	/* readable by others: refused */
	assert_int_equal(chmod(kpath, 0644), 0);
	assert_null(build(y, &err));
	assert_string_equal(err.reason, "identity_key_mode");
	assert_int_equal(chmod(kpath, 0600), 0);
	/* jwt without keys, authz without auth */
	snprintf(y, sizeof(y), "gateway:\n  identity: { key_file: %s }\n"
		 "  upstreams: [ { name: u, servers: [\"127.0.0.1:9\"] } ]\n"
		 "  routes: [ { name: r, path: /, upstream: u, auth: jwt } ]\n", kpath);
	assert_null(build(y, &err));
	assert_string_equal(err.reason, "no_jwt_keys");
	snprintf(y, sizeof(y), "gateway:\n  identity: { key_file: %s }\n"
		 "  upstreams: [ { name: u, servers: [\"127.0.0.1:9\"] } ]\n"
		 "  routes: [ { name: r, path: /, upstream: u,\n"
		 "      authz: { relation: viewer, object: \"doc:{1}\", store: s } } ]\n", kpath);
	assert_null(build(y, &err));
	assert_string_equal(err.reason, "authz_needs_auth");
	snprintf(y, sizeof(y), "gateway:\n  identity: { key_file: %s }\n"
		 "  upstreams: [ { name: u, servers: [\"127.0.0.1:9\"] } ]\n"
		 "  routes: [ { name: r, path: /, upstream: u, auth: jwt,\n"
		 "      jwt: { jwks_file: %s, algs: [HS256] } } ]\n", kpath, kpath);
	assert_null(build(y, &err));
	assert_string_equal(err.reason, "bad_alg");
	/* a short key */
	fd = open(kpath, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "short", 5), 5);
	close(fd);
	snprintf(y, sizeof(y), "gateway:\n  identity: { key_file: %s }\n"
		 "  upstreams: [ { name: u, servers: [\"127.0.0.1:9\"] } ]\n%s", kpath, route);
	assert_null(build(y, &err));
	assert_string_equal(err.reason, "identity_key_size");
	unlink(kpath);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(identity_header_format_and_signature),
		cmocka_unit_test(identity_values_cannot_forge_fields),
		cmocka_unit_test(authz_objects_from_path_segments),
		cmocka_unit_test(auth_config_is_checked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
