/*
 * The admin REST routes over real HTTP: the api module's handler with the
 * bootstrap token and a real audit log, pki_api_register'ed routes, and
 * curl as the client. Creates a hierarchy, sets a policy, issues (CSR and
 * generated key), searches, downloads, revokes; checks refusals come back
 * with the CA's reason and that every state change is in the audit log
 * without key material.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <unistd.h>

#include "api/api.h"
#include "audit/audit.h"
#include "loop/loop.h"
#include "net/net.h"
#include "pki/pki_int.h"
#include "pki/tests/pki_test_util.h"
#include "store/store.h"

static char dir[64], token[64];
static struct store *st;
static struct pki_keystore *ks;
static struct pki *pk;
static struct audit_log *audit;
static struct api_ctx ctx;
static struct loop *lp;
static struct net_thread *nt;
static struct tpool *pool;
static pthread_t thr;
static int port;

/* Stands in for the authorization engine: the bootstrap admin holds
 * every pki permission, nothing else is granted. */
static bool allow_pki(void *arg, const char *tenant, const char *subject,
		      const char *permission)
{
	return strcmp(subject, "user:bootstrap") == 0 &&
	       strncmp(permission, "pki.", 4) == 0;
}

static void *run_loop(void *arg)
{
	loop_run(lp);
	return NULL;
}

static int setup(void **state)
{
	struct bw_err err;
	if (tu_store_open(dir, sizeof(dir), "bw-pkiapi", &st, &ks) < 0)
		return -1;
	struct pki_options o = { .store = st, .keys = ks, .public_url = "http://pki.test" };
	pk = ks ? pki_new(&o, &err) : NULL;
	struct audit_config ac;
	audit_config_defaults(&ac);
	ac.dir = dir;
	audit = pk ? audit_log_open(&ac, &err) : NULL;
	if (!audit || api_create_token(dir, token, &err) < 0 ||
	    api_load_token_hash(&ctx, dir, &err) < 0)
		return -1;
	pool = tpool_new(2, 64, &err);
	lp = loop_new(256, &err);
	nt = lp ? net_thread_new(lp, &err) : NULL;
	ctx.audit = audit;
	ctx.pool = pool;
	ctx.workers = 1;
	ctx.authorize = allow_pki;
	if (pki_api_register(pk) < 0)
		return -1;
	struct net_http_options ho = { .name = "admin", .header_timeout_ms = 5000,
				       .body_timeout_ms = 5000, .idle_timeout_ms = 5000,
				       .write_timeout_ms = 5000, .handler = api_handle,
				       .handler_arg = &ctx };
	http_limits_default(&ho.limits);
	struct net_http_server *s = net_http_server_new(&ho, &err);
	int fd = net_listen_tcp("127.0.0.1", 0, false, 16, &err);
	if (!pool || !nt || !s || fd < 0)
		return -1;
	port = net_socket_port(fd);
	if (net_thread_listen(nt, "admin", fd, s, &err) < 0)
		return -1;
	net_http_server_unref(s);
	return pthread_create(&thr, NULL, run_loop, NULL) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	loop_stop(lp);
	pthread_join(thr, NULL);
	tpool_free(pool);
	net_thread_free(nt);
	loop_free(lp);
	struct bw_err err;
	audit_log_close(audit, &err);
	return tu_pki_close(dir, st, ks, pk);
}

/* curl: method, path, JSON body file (or NULL); returns the status and
 * the body in out. */
static int call(const char *method, const char *path, const char *body, char *out,
		size_t cap)
{
	char cmd[1024], bf[160];
	if (body) {
		bw_snprintf(bf, sizeof(bf), "%s/body.json", dir);
		tu_write(bf, body, strlen(body));
	}
	bw_snprintf(cmd, sizeof(cmd),
		    "curl -s -X %s -H 'Authorization: Bearer %s' %s%s%s "
		    "-w '\\n%%{http_code}' 'http://127.0.0.1:%d%s'",
		    method, token, body ? "-H 'Content-Type: application/json' --data-binary @" : "",
		    body ? bf : "", "", port, path);
	if (tu_run(cmd, out, cap) != 0)
		return -1;
	char *nl = strrchr(out, '\n');
	if (!nl)
		return -1;
	*nl = '\0';
	return (int)strtol(nl + 1, NULL, 10);
}

/* The value of "key":"..." in a flat JSON text (test helper only). */
static void field(const char *json, const char *key, char *out, size_t cap)
{
	char pat[64];
	bw_snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	const char *p = strstr(json, pat);
	assert_non_null(p);
	p += strlen(pat);
	size_t n = 0;
	while (p[n] && p[n] != '"' && n + 1 < cap)
		n++;
	memcpy(out, p, n);
	out[n] = '\0';
}

static void rest_flow(void **state)
{
	static char out[1 << 16];
	char root[32], inter[32], serial[48], path[256], body[2048];
	assert_int_equal(call("POST", "/api/v1/pki/cas",
			      "{\"name\":\"root\",\"subject\":\"CN=API Root\","
			      "\"key_type\":\"ec-p384\",\"path_len\":1}", out, sizeof(out)), 201);
	field(out, "id", root, sizeof(root));
	bw_snprintf(body, sizeof(body),
		    "{\"name\":\"issuing\",\"subject\":\"CN=API Issuing\",\"parent_id\":\"%s\","
		    "\"name_constraints\":{\"permitted_dns\":[\"example.com\"]}}", root);
	assert_int_equal(call("POST", "/api/v1/pki/cas", body, out, sizeof(out)), 201);
	field(out, "id", inter, sizeof(inter));
	assert_non_null(strstr(out, "\"state\":\"active\""));
	assert_int_equal(call("GET", "/api/v1/pki/cas", NULL, out, sizeof(out)), 200);
	assert_non_null(strstr(out, root));
	assert_non_null(strstr(out, inter));
	/* no policy yet: refused with the CA's reason */
	bw_snprintf(path, sizeof(path), "/api/v1/pki/cas/%s/issue", inter);
	assert_int_equal(call("POST", path,
			      "{\"profile\":\"tls-server\",\"dns\":[\"a.example.com\"]}",
			      out, sizeof(out)), 403);
	assert_non_null(strstr(out, "\"policy\""));
	assert_int_equal(call("PUT", "/api/v1/pki/policy",
			      "{\"dns\":[\".example.com\"],\"max_validity_s\":86400}", out,
			      sizeof(out)), 200);
	assert_int_equal(call("PUT", "/api/v1/pki/policy", "{\"dns\":\"x\"}", out,
			      sizeof(out)), 400);
	assert_int_equal(call("GET", "/api/v1/pki/policy", NULL, out, sizeof(out)), 200);
	assert_non_null(strstr(out, ".example.com"));
	/* issue with a generated key */
	assert_int_equal(call("POST", path,
			      "{\"profile\":\"tls-server\",\"key_type\":\"ec-p256\","
			      "\"dns\":[\"a.example.com\"]}", out, sizeof(out)), 201);
	field(out, "serial", serial, sizeof(serial));
	assert_non_null(strstr(out, "BEGIN PRIVATE KEY"));
	assert_non_null(strstr(out, "BEGIN CERTIFICATE"));
	/* issue from a CSR */
	struct bw_err err;
	EVP_PKEY *k = pki_key_generate(PKI_KEY_EC_P256, &err);
	size_t len, plen;
	unsigned char *der = tu_csr(k, "b.example.com", "DNS:b.example.com", EVP_sha256(), &len);
	char *pem = tu_pem(der, len, "CERTIFICATE REQUEST", &plen);
	struct bw_buf b;
	bw_buf_init(&b, 1 << 16);
	struct json_writer w;
	json_writer_init(&w, &b);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "profile", "tls-server");
	json_write_kv_string(&w, "csr", pem);
	json_write_object_end(&w);
	assert_int_equal(json_writer_finish(&w), 0);
	assert_int_equal(call("POST", path, b.data, out, sizeof(out)), 201);
	assert_null(strstr(out, "PRIVATE KEY"));
	bw_buf_fini(&b);
	free(pem);
	free(der);
	EVP_PKEY_free(k);
	/* outside policy and name constraints */
	assert_int_equal(call("POST", path,
			      "{\"profile\":\"tls-server\",\"dns\":[\"a.evil.net\"]}", out,
			      sizeof(out)), 403);
	assert_int_equal(call("POST", path, "{\"profile\":\"nope\"}", out, sizeof(out)), 400);
	assert_int_equal(call("POST", path, "not json", out, sizeof(out)), 400);
	/* inventory */
	assert_int_equal(call("GET", "/api/v1/pki/certificates?q=a.example&status=good",
			      NULL, out, sizeof(out)), 200);
	assert_non_null(strstr(out, serial));
	assert_non_null(strstr(out, "\"count\":1"));
	bw_snprintf(path, sizeof(path), "/api/v1/pki/certificates/%s", serial);
	assert_int_equal(call("GET", path, NULL, out, sizeof(out)), 200);
	assert_non_null(strstr(out, "chain_pem"));
	assert_non_null(strstr(out, "der_b64url"));
	/* revoke */
	bw_snprintf(path, sizeof(path), "/api/v1/pki/certificates/%s/revoke", serial);
	assert_int_equal(call("POST", path, "{\"reason\":\"keyCompromise\"}", out,
			      sizeof(out)), 200);
	assert_non_null(strstr(out, "\"status\":\"revoked\""));
	assert_int_equal(call("POST", path, "{\"reason\":\"keyCompromise\"}", out,
			      sizeof(out)), 409);
	assert_int_equal(call("POST", path, "{\"reason\":\"bored\"}", out, sizeof(out)), 400);
	assert_int_equal(call("GET", "/api/v1/pki/certificates?status=revoked", NULL, out,
			      sizeof(out)), 200);
	assert_non_null(strstr(out, "\"count\":1"));
	/* offline flow over REST */
	assert_int_equal(call("POST", "/api/v1/pki/cas",
			      "{\"name\":\"ext\",\"subject\":\"CN=External\",\"external\":true}",
			      out, sizeof(out)), 201);
	char ext[32];
	field(out, "id", ext, sizeof(ext));
	bw_snprintf(path, sizeof(path), "/api/v1/pki/cas/%s/csr", ext);
	assert_int_equal(call("GET", path, NULL, out, sizeof(out)), 200);
	assert_non_null(strstr(out, "BEGIN CERTIFICATE REQUEST"));
	/* an unknown CA */
	assert_int_equal(call("GET", "/api/v1/pki/cas/0123456789abcdef", NULL, out,
			      sizeof(out)), 404);
	/* without the token */
	char cmd[256];
	bw_snprintf(cmd, sizeof(cmd),
		    "curl -s -o /dev/null -w '%%{http_code}' http://127.0.0.1:%d/api/v1/pki/cas",
		    port);
	assert_int_equal(tu_run(cmd, out, sizeof(out)), 0);
	assert_string_equal(out, "401");

	/* the audit log has the state changes, and no key material */
	char logp[160];
	bw_snprintf(logp, sizeof(logp), "%s/audit.log", dir);
	usleep(100000);
	size_t ll;
	char *log = tu_read(logp, &ll);
	assert_non_null(log);
	assert_non_null(strstr(log, "pki.ca.create"));
	assert_non_null(strstr(log, "pki.cert.issue"));
	assert_non_null(strstr(log, "pki.cert.revoke"));
	assert_non_null(strstr(log, "pki.policy.set"));
	assert_non_null(strstr(log, serial));
	assert_null(strstr(log, "PRIVATE KEY"));
	assert_null(strstr(log, "CERTIFICATE REQUEST"));
	free(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rest_flow),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
