/*
 * REST tests for /api/v1/kms, in-process: a real key process (forked),
 * the kms client, the api module's router with its audit log, and the
 * net HTTP server on a loopback port, driven with plain HTTP/1.1 over a
 * socket. Covers each route family, batches with per-item errors, the
 * sealed answer, state and version refusals, tenant-path validation,
 * authentication, and that the audit log names operations and keys but
 * never holds the data.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/api.h"
#include "audit/audit.h"
#include "json/json.h"
#include "kms/kms.h"
#include "net/net.h"

#define TOKEN "test-token-for-kms-api"

static struct {
	char dir[256];
	pid_t ks;
	struct kms_client *kms;
	struct audit_log *audit;
	struct api_ctx ctx;
	struct loop *loop;
	struct net_thread *net;
	struct net_http_server *srv;
	pthread_t th;
	int port;
	struct bw_arena *arena;
} S;

/* The worker wires the authorization engine here; this test allows the
 * bootstrap actor everything except a permission the kms routes must
 * never use (so a typo in the route table shows up as a 403). */
static bool allow(void *arg, const char *tenant, const char *subject,
		  const char *permission)
{
	(void)arg;
	static const char *const known[] = {
		"platform.system.read", "platform.system.manage", "kms.key.read",
		"kms.key.manage", "kms.key.rotate", "kms.key.destroy",
		"kms.key.export", "kms.key.use",
	};
	if (strcmp(tenant, "platform") != 0 || strcmp(subject, "user:bootstrap") != 0)
		return false;
	for (size_t i = 0; i < BW_ARRAY_LEN(known); i++)
		if (strcmp(permission, known[i]) == 0)
			return true;
	return false;
}

static void *loop_main(void *arg)
{
	(void)arg;
	(void)loop_run(S.loop);
	return NULL;
}

static int setup(void **state)
{
	(void)state;
	struct bw_err err;
	signal(SIGPIPE, SIG_IGN);
	snprintf(S.dir, sizeof(S.dir), "/tmp/bw-kms-api-%d", (int)getpid());
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", S.dir);
	if (system(cmd) != 0 || mkdir(S.dir, 0700) < 0)
		return -1;
	/* Fork the key process first, while this process has one thread. */
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return -1;
	S.ks = fork();
	if (S.ks == 0) {
		close(sp[0]);
		struct keystore_options o = { .data_dir = S.dir,
					      .unseal_mode = KEYSTORE_SEAL_AUTO,
					      .log_level = BW_LOG_ERROR };
		keystore_main(sp[1], &o);
	}
	close(sp[1]);
	S.kms = kms_client_new(sp[0], &err);
	struct audit_config ac;
	audit_config_defaults(&ac);
	ac.dir = S.dir;
	S.audit = audit_log_open(&ac, &err);
	if (!S.kms || !S.audit)
		return -1;
	S.ctx.audit = S.audit;
	S.ctx.have_token = true;
	S.ctx.authorize = allow;
	SHA256((const unsigned char *)TOKEN, strlen(TOKEN), S.ctx.token_hash);
	if (kms_api_register(S.kms) < 0)
		return -1;
	S.loop = loop_new(64, &err);
	S.net = S.loop ? net_thread_new(S.loop, &err) : NULL;
	struct net_http_options o = { .name = "admin",
				      .header_timeout_ms = 5000,
				      .body_timeout_ms = 5000,
				      .idle_timeout_ms = 5000,
				      .write_timeout_ms = 5000,
				      .max_conns = 64,
				      .handler = api_handle,
				      .handler_arg = &S.ctx };
	http_limits_default(&o.limits);
	S.srv = S.net ? net_http_server_new(&o, &err) : NULL;
	int fd = net_listen_tcp("127.0.0.1", 0, false, 16, &err);
	if (!S.srv || fd < 0 || net_thread_listen(S.net, "admin", fd, S.srv, &err) < 0)
		return -1;
	S.port = net_socket_port(fd);
	S.arena = bw_arena_new(1 << 16, 64 << 20);
	return pthread_create(&S.th, NULL, loop_main, NULL);
}

static void stop_loop(void *arg)
{
	(void)arg;
	loop_stop(S.loop);
}

static int teardown(void **state)
{
	(void)state;
	struct bw_err err;
	if (loop_post(S.loop, stop_loop, NULL) < 0)
		return -1;
	pthread_join(S.th, NULL);
	net_thread_free(S.net);
	net_http_server_unref(S.srv);
	kms_client_free(S.kms);
	int st;
	waitpid(S.ks, &st, 0);
	(void)audit_log_close(S.audit, &err);
	loop_free(S.loop);
	bw_arena_free(S.arena);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", S.dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* One request on a fresh connection. Returns the status; OUT: the parsed
 * JSON body (arena) and whether X-Audit-Seq was present. */
static int http(const char *method, const char *path, const char *body,
		const char *token, const struct json_value **json, bool *audited)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)S.port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(s, (struct sockaddr *)&a, sizeof(a)), 0);
	char head[1024];
	size_t blen = body ? strlen(body) : 0;
	int hl = snprintf(head, sizeof(head),
			  "%s %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
			  "%s%s%sContent-Type: application/json\r\n"
			  "Content-Length: %zu\r\n\r\n",
			  method, path, token ? "Authorization: Bearer " : "",
			  token ? token : "", token ? "\r\n" : "", blen);
	assert_int_equal(write(s, head, (size_t)hl), hl);
	if (blen)
		assert_int_equal(write(s, body, blen), (ssize_t)blen);
	size_t cap = 1 << 20, n = 0;
	char *buf = malloc(cap);
	ssize_t r;
	while ((r = read(s, buf + n, cap - n - 1)) > 0)
		n += (size_t)r;
	close(s);
	buf[n] = 0;
	int status = 0;
	assert_int_equal(sscanf(buf, "HTTP/1.1 %d", &status), 1);
	if (audited)
		*audited = strstr(buf, "X-Audit-Seq:") || strstr(buf, "x-audit-seq:");
	char *b = strstr(buf, "\r\n\r\n");
	*json = NULL;
	if (b && b[4]) {
		struct bw_err err;
		*json = json_parse(S.arena, b + 4, strlen(b + 4), NULL, &err);
		if (!*json)
			fail_msg("bad JSON response: %s", b + 4);
	}
	free(buf);
	return status;
}

static int call(const char *method, const char *path, const char *body,
		const struct json_value **json)
{
	bool audited = false;
	int st = http(method, path, body, TOKEN, json, &audited);
	/* Every kms route is audited, success or not. */
	assert_true(audited);
	return st;
}

static const char *err_code(const struct json_value *j)
{
	return json_get_str(json_get(j, "error"), "code", "");
}

#define P "/api/v1/kms/tenants/acme"

static void test_rest(void **state)
{
	(void)state;
	const struct json_value *j;
	char body[8192];

	/* Authentication first. */
	assert_int_equal(http("GET", "/api/v1/kms/sys/status", NULL, NULL, &j, NULL), 401);
	assert_int_equal(http("GET", "/api/v1/kms/sys/status", NULL, "wrong", &j, NULL), 401);
	assert_int_equal(call("GET", "/api/v1/kms/sys/status", NULL, &j), 200);
	assert_true(json_get_bool(j, "initialized", false));
	assert_false(json_get_bool(j, "sealed", true));
	assert_string_equal(json_get_str(j, "seal_type", ""), "auto");

	/* Keys. */
	assert_int_equal(call("POST", P "/keys", "{\"name\":\"orders\",\"type\":\"aes256-gcm\"}",
			      &j), 201);
	assert_string_equal(json_get_str(j, "state", ""), "enabled");
	assert_int_equal(json_get_int(j, "latest_version", 0), 1);
	assert_false(json_get_bool(j, "exportable", true));
	assert_int_equal(call("POST", P "/keys", "{\"name\":\"orders\",\"type\":\"aes256-gcm\"}",
			      &j), 409);
	assert_string_equal(err_code(j), "exists");
	assert_int_equal(call("POST", P "/keys", "{\"name\":\"x\",\"type\":\"des\"}", &j), 400);
	assert_int_equal(call("POST", P "/keys", "{not json", &j), 400);
	assert_int_equal(call("POST", P "/keys", "{\"name\":\"ec\",\"type\":\"ecdsa-p256\"}", &j),
			 201);
	assert_int_equal(call("POST", P "/keys", "{\"name\":\"mac\",\"type\":\"hmac-sha256\"}",
			      &j), 201);
	assert_int_equal(call("GET", P "/keys", NULL, &j), 200);
	assert_int_equal(json_get(j, "keys")->u.arr.n, 3);
	assert_int_equal(call("GET", P "/keys/nope", NULL, &j), 404);
	assert_int_equal(call("GET", "/api/v1/kms/tenants/a%2Fb/keys", NULL, &j), 400);

	/* Encrypt / decrypt, with AAD ("hello" / "row-7"). */
	assert_int_equal(call("POST", P "/keys/orders/encrypt",
			      "{\"plaintext\":\"aGVsbG8=\",\"aad\":\"cm93LTc=\"}", &j), 200);
	const char *ct = json_get_str(j, "ciphertext", "");
	assert_memory_equal(ct, "bwk1:", 5);
	char ct1[512];
	snprintf(ct1, sizeof(ct1), "%s", ct);
	snprintf(body, sizeof(body), "{\"ciphertext\":\"%s\",\"aad\":\"cm93LTc=\"}", ct1);
	assert_int_equal(call("POST", P "/keys/orders/decrypt", body, &j), 200);
	assert_string_equal(json_get_str(j, "plaintext", ""), "aGVsbG8=");
	assert_int_equal(json_get_int(j, "key_version", 0), 1);
	/* Without naming the key. */
	assert_int_equal(call("POST", P "/decrypt", body, &j), 200);
	assert_string_equal(json_get_str(j, "plaintext", ""), "aGVsbG8=");
	/* Wrong AAD: 400 authentication_failed. */
	snprintf(body, sizeof(body), "{\"ciphertext\":\"%s\",\"aad\":\"cm93LTg=\"}", ct1);
	assert_int_equal(call("POST", P "/keys/orders/decrypt", body, &j), 400);
	assert_string_equal(err_code(j), "authentication_failed");
	/* Another tenant's key of the same name cannot open it. */
	assert_int_equal(call("POST", "/api/v1/kms/tenants/other/keys",
			      "{\"name\":\"orders\",\"type\":\"aes256-gcm\"}", &j), 201);
	snprintf(body, sizeof(body), "{\"ciphertext\":\"%s\",\"aad\":\"cm93LTc=\"}", ct1);
	assert_int_equal(call("POST", "/api/v1/kms/tenants/other/decrypt", body, &j), 404);
	assert_int_equal(call("POST", "/api/v1/kms/tenants/other/keys/orders/decrypt", body, &j),
			 400);
	/* Bad base64 is a 400 before the key process sees it. */
	assert_int_equal(call("POST", P "/keys/orders/encrypt", "{\"plaintext\":\"@@@\"}", &j),
			 400);
	assert_int_equal(call("POST", P "/keys/orders/encrypt", "{}", &j), 400);

	/* Batch: one item tampered. */
	assert_int_equal(call("POST", P "/keys/orders/encrypt",
			      "{\"batch_input\":[{\"plaintext\":\"YQ==\"},"
			      "{\"plaintext\":\"Yg==\"},{\"plaintext\":\"\"}]}", &j), 200);
	const struct json_value *res = json_get(j, "batch_results");
	assert_non_null(res);
	assert_int_equal(res->u.arr.n, 3);
	char c0[512], c1[512];
	snprintf(c0, sizeof(c0), "%s", json_get_str(res->u.arr.items[0], "ciphertext", ""));
	snprintf(c1, sizeof(c1), "%s", json_get_str(res->u.arr.items[1], "ciphertext", ""));
	c1[10] = c1[10] == 'A' ? 'B' : 'A';
	snprintf(body, sizeof(body),
		 "{\"batch_input\":[{\"ciphertext\":\"%s\"},{\"ciphertext\":\"%s\"}]}", c0, c1);
	assert_int_equal(call("POST", P "/keys/orders/decrypt", body, &j), 200);
	res = json_get(j, "batch_results");
	assert_string_equal(json_get_str(res->u.arr.items[0], "plaintext", ""), "YQ==");
	assert_null(json_get(res->u.arr.items[1], "plaintext"));
	assert_non_null(json_get(res->u.arr.items[1], "error"));

	/* Sign / verify / public key. */
	assert_int_equal(call("POST", P "/keys/ec/sign", "{\"message\":\"bXNn\"}", &j), 200);
	char sig[512];
	snprintf(sig, sizeof(sig), "%s", json_get_str(j, "signature", ""));
	snprintf(body, sizeof(body), "{\"message\":\"bXNn\",\"signature\":\"%s\"}", sig);
	assert_int_equal(call("POST", P "/keys/ec/verify", body, &j), 200);
	assert_true(json_get_bool(j, "valid", false));
	snprintf(body, sizeof(body), "{\"message\":\"bXNo\",\"signature\":\"%s\"}", sig);
	assert_int_equal(call("POST", P "/keys/ec/verify", body, &j), 200);
	assert_false(json_get_bool(j, "valid", true));
	assert_int_equal(call("GET", P "/keys/ec/public-key", NULL, &j), 200);
	assert_non_null(strstr(json_get_str(j, "pem", ""), "BEGIN PUBLIC KEY"));
	assert_int_equal(call("GET", P "/keys/ec/public-key/jwk", NULL, &j), 200);
	assert_string_equal(json_get_str(json_get(j, "jwk"), "crv", ""), "P-256");
	assert_int_equal(call("POST", P "/keys/orders/sign", "{\"message\":\"bXNn\"}", &j), 403);

	/* HMAC, random, data keys. */
	assert_int_equal(call("POST", P "/keys/mac/hmac", "{\"message\":\"bXNn\"}", &j), 200);
	char mac[128];
	snprintf(mac, sizeof(mac), "%s", json_get_str(j, "mac", ""));
	snprintf(body, sizeof(body), "{\"message\":\"bXNn\",\"mac\":\"%s\"}", mac);
	assert_int_equal(call("POST", P "/keys/mac/hmac-verify", body, &j), 200);
	assert_true(json_get_bool(j, "valid", false));
	assert_int_equal(call("POST", P "/random", "{\"bytes\":32}", &j), 200);
	assert_int_equal(strlen(json_get_str(j, "random", "")), 44);
	assert_int_equal(call("POST", P "/random", "{\"bytes\":100000}", &j), 400);
	assert_int_equal(call("POST", P "/keys/orders/datakey", "{\"bits\":256}", &j), 200);
	assert_int_equal(strlen(json_get_str(j, "plaintext", "")), 44);
	assert_memory_equal(json_get_str(j, "ciphertext", ""), "bwk1:", 5);
	assert_int_equal(call("POST", P "/keys/orders/datakey", "{\"wrapped_only\":true}", &j),
			 200);
	assert_null(json_get(j, "plaintext"));

	/* Rotation and the minimum decryption version. */
	assert_int_equal(call("POST", P "/keys/orders/rotate", NULL, &j), 200);
	assert_int_equal(json_get_int(j, "latest_version", 0), 2);
	assert_int_equal(json_get(j, "versions")->u.arr.n, 2);
	assert_int_equal(call("POST", P "/keys/orders/config",
			      "{\"min_decryption_version\":2}", &j), 200);
	snprintf(body, sizeof(body), "{\"ciphertext\":\"%s\",\"aad\":\"cm93LTc=\"}", ct1);
	assert_int_equal(call("POST", P "/keys/orders/decrypt", body, &j), 409);
	assert_string_equal(err_code(j), "key_version");
	assert_int_equal(call("POST", P "/keys/orders/config", "{\"exportable\":true}", &j), 403);

	/* Suspend, enable, destroy. */
	assert_int_equal(call("POST", P "/keys/orders/suspend", NULL, &j), 200);
	assert_int_equal(call("POST", P "/keys/orders/encrypt", "{\"plaintext\":\"YQ==\"}", &j),
			 409);
	assert_string_equal(err_code(j), "key_state");
	assert_int_equal(call("POST", P "/keys/orders/enable", NULL, &j), 200);
	assert_int_equal(call("POST", P "/keys/orders/destroy", NULL, &j), 409);
	assert_int_equal(call("POST", P "/keys/orders/schedule-destroy", "{\"delay_s\":3600}",
			      &j), 200);
	assert_string_equal(json_get_str(j, "state", ""), "scheduled_for_destruction");
	assert_non_null(json_get(j, "destroy_at"));
	assert_int_equal(call("POST", P "/keys/orders/destroy", NULL, &j), 200);
	assert_string_equal(json_get_str(j, "state", ""), "destroyed");

	/* Sealed: a clear 503. */
	assert_int_equal(call("POST", "/api/v1/kms/sys/seal", NULL, &j), 200);
	assert_true(json_get_bool(j, "sealed", false));
	assert_int_equal(call("POST", P "/keys/ec/sign", "{\"message\":\"bXNn\"}", &j), 503);
	assert_string_equal(err_code(j), "sealed");
	assert_int_equal(call("POST", "/api/v1/kms/sys/unseal", NULL, &j), 200);
	assert_false(json_get_bool(j, "sealed", true));
	assert_int_equal(call("POST", P "/keys/ec/sign", "{\"message\":\"bXNn\"}", &j), 200);
	assert_int_equal(call("POST", "/api/v1/kms/sys/rotate-master", NULL, &j), 200);
	assert_int_equal(json_get_int(j, "master_key_generation", 0), 2);

	/* The audit log names what happened, never the data. */
	struct bw_err err;
	char path[300];
	size_t len;
	snprintf(path, sizeof(path), "%s/audit.log", S.dir);
	for (int i = 0; i < 50; i++)
		usleep(10000); /* records are durable before replies; be patient */
	char *log = bw_file_read(path, 64 << 20, &len, &err);
	assert_non_null(log);
	assert_non_null(strstr(log, "kms.encrypt"));
	assert_non_null(strstr(log, "kms.key.destroy"));
	assert_non_null(strstr(log, "\"key\":\"orders\""));
	assert_null(strstr(log, "aGVsbG8"));   /* plaintext */
	assert_null(strstr(log, ct1 + 5));      /* ciphertext */
	assert_null(strstr(log, sig));          /* signature */
	assert_null(strstr(log, mac));          /* MAC */
	free(log);
}

/* Runs kms_cli_main with stdin from `in` and returns its exit status;
 * OUT: what it printed on stdout (static buffer). */
static int cli(const char *in, char *out, size_t cap, const char *a1, ...)
{
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", S.port);
	char *argv[24] = { "kms", "--url", url, "--token", TOKEN, "--tenant", "cli" };
	int argc = 7;
	va_list ap;
	va_start(ap, a1);
	for (const char *a = a1; a && argc < 23; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	if (strcmp(a1, "operator") == 0) {
		/* bulwark operator ...: shift "kms" away. */
		memmove(argv + 7, argv + 8, (size_t)(argc - 8 + 1) * sizeof(*argv));
		argv[0] = "operator";
		argc--;
	}
	char inpath[300], outpath[300];
	snprintf(inpath, sizeof(inpath), "%s/cli.in", S.dir);
	snprintf(outpath, sizeof(outpath), "%s/cli.out", S.dir);
	FILE *f = fopen(inpath, "w");
	fputs(in ? in : "", f);
	fclose(f);
	fflush(stdout);
	int save_in = dup(0), save_out = dup(1);
	FILE *fi = freopen(inpath, "r", stdin);
	FILE *fo = freopen(outpath, "w", stdout);
	assert_non_null(fi);
	assert_non_null(fo);
	int rc = kms_cli_main(argc, argv);
	fflush(stdout);
	dup2(save_in, 0);
	dup2(save_out, 1);
	close(save_in);
	close(save_out);
	clearerr(stdin);
	size_t len;
	struct bw_err err;
	char *text = bw_file_read(outpath, 1 << 20, &len, &err);
	snprintf(out, cap, "%s", text ? text : "");
	free(text);
	return rc;
}

static void test_cli(void **state)
{
	(void)state;
	char out[4096], ct[4096];
	assert_int_equal(cli(NULL, out, sizeof(out), "operator", "status", NULL), 0);
	assert_non_null(strstr(out, "\"sealed\":false"));
	assert_int_equal(cli(NULL, out, sizeof(out), "keys", "create", "notes", "--type",
			     "chacha20-poly1305", NULL), 0);
	assert_non_null(strstr(out, "\"type\":\"chacha20-poly1305\""));
	assert_int_equal(cli(NULL, out, sizeof(out), "keys", "list", NULL), 0);
	assert_non_null(strstr(out, "\"name\":\"notes\""));
	/* encrypt | decrypt round trip through stdin/stdout, with AAD. */
	assert_int_equal(cli("top secret\n", out, sizeof(out), "encrypt", "notes", "--aad",
			     "ctx", NULL), 0);
	assert_memory_equal(out, "bwk1:", 5);
	memcpy(ct, out, sizeof(ct));
	assert_int_equal(cli(ct, out, sizeof(out), "decrypt", "--aad", "ctx", NULL), 0);
	assert_string_equal(out, "top secret\n");
	assert_int_equal(cli(ct, out, sizeof(out), "decrypt", "notes", "--aad", "nope", NULL),
			 1);
	/* sign | verify. */
	assert_int_equal(cli(NULL, out, sizeof(out), "keys", "create", "signer", "--type",
			     "ed25519", NULL), 0);
	assert_int_equal(cli("document", out, sizeof(out), "sign", "signer", NULL), 0);
	char sig[4096];
	memcpy(sig, out, sizeof(sig));
	sig[strcspn(sig, "\n")] = 0;
	assert_int_equal(cli("document", out, sizeof(out), "verify", "signer", sig, NULL), 0);
	assert_string_equal(out, "valid\n");
	assert_int_equal(cli("documenT", out, sizeof(out), "verify", "signer", sig, NULL), 1);
	assert_int_equal(cli(NULL, out, sizeof(out), "public-key", "signer", "--jwk", NULL), 0);
	assert_non_null(strstr(out, "\"crv\":\"Ed25519\""));
	assert_int_equal(cli(NULL, out, sizeof(out), "random", "16", NULL), 0);
	assert_int_equal(strlen(out), 25);
	assert_int_equal(cli(NULL, out, sizeof(out), "keys", "rotate", "notes", NULL), 0);
	assert_non_null(strstr(out, "\"latest_version\":2"));
	/* Errors: exit 1, usage: exit 2. */
	assert_int_equal(cli(NULL, out, sizeof(out), "keys", "get", "missing", NULL), 1);
	assert_int_equal(cli(NULL, out, sizeof(out), "frobnicate", NULL), 2);
}

int main(void)
{
	log_init("test", BW_LOG_ERROR, 2);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rest),
		cmocka_unit_test(test_cli),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
