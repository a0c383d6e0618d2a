/*
 * `bulwark operator ...` and `bulwark kms ...`: the command line for the
 * seal and for Encryption-as-a-Service, speaking to the running daemon's
 * admin API over HTTPS (libcurl). Nothing here touches keys: the daemon's
 * key process does; the CLI moves base64 and prints results.
 *
 * Where it finds the daemon: --url, else the first admin listener in
 * DATA_DIR/run/ports.json; the token: --token, BULWARK_TOKEN, else
 * DATA_DIR/bootstrap-token; the CA: --cacert, else DATA_DIR/tls/ca.crt.
 * Secrets typed by operators (shares, passphrases) are read from stdin,
 * never from the command line (which other users can see in ps).
 */
#include "kms/kms_int.h"

#include "json/json.h"

#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLI_BODY_MAX (4u << 20)
#define CLI_STDIN_MAX (48u * 1024u) /* base64 must fit one JSON string */

struct cli {
	const char *dir;
	const char *tenant;
	char url[512];
	char token[600];
	char cacert[1100];
	struct bw_arena *arena;
};

static int usage(void)
{
	fprintf(stderr,
		"usage: bulwark operator <status|init|unseal|seal|unseal-reset|rotate-master>\n"
		"         init [--shares N --threshold K | --passphrase | --auto]\n"
		"         unseal            (shares, one per line, or the passphrase, on stdin)\n"
		"       bulwark kms [--tenant T] <command>\n"
		"         keys list | keys create NAME --type TYPE [--exportable] [--rotate-period S]\n"
		"         keys get|rotate|suspend|enable|destroy NAME\n"
		"         keys schedule-destroy NAME [--delay S]\n"
		"         encrypt KEY [--aad TEXT]     plaintext on stdin, ciphertext out\n"
		"         decrypt [KEY] [--aad TEXT]   ciphertext on stdin, plaintext out\n"
		"         sign KEY | hmac KEY           message on stdin, base64 out\n"
		"         verify KEY SIGNATURE          message on stdin; exit 0 if valid\n"
		"         datakey KEY | random N | public-key KEY [--jwk]\n"
		"       common options: --dir DATA_DIR (default ./var) --url URL --token T\n"
		"                       --cacert FILE\n"
		"types: aes256-gcm chacha20-poly1305 hmac-sha256 hmac-sha512 ed25519\n"
		"       ecdsa-p256 ecdsa-p384 rsa-2048 rsa-3072 rsa-4096\n");
	return 2;
}

/* ------------------------------------------------------------ transport */

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct bw_buf *b = arg;
	if (bw_buf_append(b, p, size * n) < 0)
		return 0;
	return size * n;
}

/* Sends one request; OUT: status and the parsed JSON body (arena). */
static int http(struct cli *c, const char *method, const char *path,
		const char *body, const struct json_value **out)
{
	CURL *h = curl_easy_init();
	struct bw_buf resp;
	bw_buf_init(&resp, CLI_BODY_MAX);
	char url[1024], auth[700];
	struct curl_slist *hdr = NULL;
	long status = 0;
	*out = NULL;
	if (!h)
		return -1;
	bw_snprintf(url, sizeof(url), "%s%s", c->url, path);
	bw_snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->token);
	hdr = curl_slist_append(hdr, auth);
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
	if (c->cacert[0] && access(c->cacert, R_OK) == 0)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->cacert);
	if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	} else if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
	}
	CURLcode rc = curl_easy_perform(h);
	if (rc != CURLE_OK) {
		fprintf(stderr, "bulwark: %s: %s\n", url, curl_easy_strerror(rc));
		status = -1;
	} else {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		struct bw_err err;
		if (resp.len)
			*out = json_parse(c->arena, resp.data, resp.len, NULL, &err);
	}
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	bw_buf_wipe_fini(&resp);
	bw_wipe(auth, sizeof(auth));
	return (int)status;
}

/* Prints the error of a failed call; returns 1. */
static int failed(int status, const struct json_value *j)
{
	const struct json_value *e = json_get(j, "error");
	if (status > 0)
		fprintf(stderr, "bulwark: %d %s: %s\n", status,
			json_get_str(e, "code", "error"),
			json_get_str(e, "message", "request failed"));
	return 1;
}

static void print_json(const struct json_value *j)
{
	struct bw_buf b;
	bw_buf_init(&b, CLI_BODY_MAX);
	struct json_writer w;
	json_writer_init(&w, &b);
	json_write_value(&w, j);
	if (json_writer_finish(&w) == 0)
		printf("%s\n", b.data);
	bw_buf_wipe_fini(&b);
}

/* --------------------------------------------------------------- set-up */

static void trim(char *s)
{
	size_t n = strlen(s);
	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		s[--n] = '\0';
}

static int discover(struct cli *c)
{
	struct bw_err err;
	size_t len;
	if (!c->url[0]) {
		char p[1100];
		bw_snprintf(p, sizeof(p), "%s/run/ports.json", c->dir);
		char *text = bw_file_read(p, 65536, &len, &err);
		const struct json_value *j =
			text ? json_parse(c->arena, text, len, NULL, &err) : NULL;
		free(text);
		for (size_t i = 0; j && j->type == JSON_OBJECT && i < j->u.obj.n; i++) {
			const struct json_value *l = j->u.obj.members[i].value;
			if (strcmp(json_get_str(l, "kind", ""), "admin") == 0) {
				bw_snprintf(c->url, sizeof(c->url), "%s",
					    json_get_str(l, "url", ""));
				if (json_get_bool(l, "tls", false))
					break;
			}
		}
		size_t n = strlen(c->url);
		if (n && c->url[n - 1] == '/')
			c->url[n - 1] = '\0';
		if (!c->url[0]) {
			fprintf(stderr, "bulwark: no running daemon found (%s); use --url\n", p);
			return -1;
		}
	}
	if (!c->token[0] && getenv("BULWARK_TOKEN"))
		bw_snprintf(c->token, sizeof(c->token), "%s", getenv("BULWARK_TOKEN"));
	if (!c->token[0]) {
		char p[1100];
		bw_snprintf(p, sizeof(p), "%s/bootstrap-token", c->dir);
		char *t = bw_file_read(p, 512, &len, &err);
		if (!t) {
			fprintf(stderr, "bulwark: no token (%s); use --token or BULWARK_TOKEN\n",
				err.msg);
			return -1;
		}
		bw_snprintf(c->token, sizeof(c->token), "%s", t);
		bw_wipe(t, len);
		free(t);
		trim(c->token);
	}
	if (!c->cacert[0])
		bw_snprintf(c->cacert, sizeof(c->cacert), "%s/tls/ca.crt", c->dir);
	return 0;
}

/* Reads stdin (at most CLI_STDIN_MAX bytes). */
static uint8_t *read_stdin(size_t *n)
{
	uint8_t *b = malloc(CLI_STDIN_MAX + 1);
	size_t len = 0, r;
	if (!b)
		return NULL;
	while (len <= CLI_STDIN_MAX && (r = fread(b + len, 1, CLI_STDIN_MAX + 1 - len, stdin)) > 0)
		len += r;
	if (len > CLI_STDIN_MAX) {
		fprintf(stderr, "bulwark: input larger than %u bytes; use a data key\n",
			CLI_STDIN_MAX);
		free(b);
		return NULL;
	}
	b[len] = 0;
	*n = len;
	return b;
}

static char *b64_of(const uint8_t *p, size_t n)
{
	size_t cap = (n + 2) / 3 * 4 + 1;
	char *s = malloc(cap);
	if (s && kms_b64_encode(p, n, s, cap) == 0 && n)
		s[0] = '\0';
	return s;
}

/* A JSON body from alternating key/value string pairs (values are JSON
 * strings unless the key starts with '#', meaning a raw JSON literal). */
static char *body_of(const char *k, ...)
{
	struct bw_buf b;
	bw_buf_init(&b, CLI_BODY_MAX);
	struct json_writer w;
	json_writer_init(&w, &b);
	json_write_object_begin(&w);
	va_list ap;
	va_start(ap, k);
	for (; k; k = va_arg(ap, const char *)) {
		const char *v = va_arg(ap, const char *);
		if (!v)
			continue;
		if (k[0] == '#') {
			json_write_key(&w, k + 1);
			uint64_t n;
			if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0)
				json_write_bool(&w, v[0] == 't');
			else if (bw_str_to_u64(bw_str_make(v, strlen(v)), &n) == 0)
				json_write_uint(&w, n);
			else
				w.failed = true;
		} else {
			json_write_kv_string(&w, k, v);
		}
	}
	va_end(ap);
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0) {
		bw_buf_wipe_fini(&b);
		return NULL;
	}
	size_t len;
	return bw_buf_detach(&b, &len);
}

/* ------------------------------------------------------------- operator */

static int op_init(struct cli *c, int argc, char **argv)
{
	const char *shares = NULL, *threshold = NULL, *type = "shamir";
	bool pass = false;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--shares") == 0 && i + 1 < argc)
			shares = argv[++i];
		else if (strcmp(argv[i], "--threshold") == 0 && i + 1 < argc)
			threshold = argv[++i];
		else if (strcmp(argv[i], "--passphrase") == 0)
			pass = true;
		else if (strcmp(argv[i], "--auto") == 0)
			type = "auto";
		else
			return usage();
	}
	char pw[KEYSTORE_PASSPHRASE_MAX + 2] = "";
	if (pass) {
		type = "passphrase";
		if (isatty(0))
			fprintf(stderr, "passphrase (%u+ characters): ", KEYSTORE_PASSPHRASE_MIN);
		if (!fgets(pw, sizeof(pw), stdin))
			return 1;
		trim(pw);
	} else if (strcmp(type, "shamir") == 0) {
		shares = shares ? shares : "5";
		threshold = threshold ? threshold : "3";
	}
	char *body = body_of("type", type, "passphrase", pass ? pw : NULL,
			     "#shares", strcmp(type, "shamir") == 0 ? shares : NULL,
			     "#threshold", strcmp(type, "shamir") == 0 ? threshold : NULL,
			     NULL);
	bw_wipe(pw, sizeof(pw));
	if (!body)
		return usage();
	const struct json_value *j;
	int st = http(c, "POST", "/api/v1/kms/sys/init", body, &j);
	bw_wipe(body, strlen(body));
	free(body);
	if (st != 200)
		return failed(st, j);
	const struct json_value *sh = json_get(j, "unseal_shares");
	if (sh && sh->type == JSON_ARRAY) {
		fprintf(stderr, "Unseal shares (any %s of %zu unseal the keystore). Give "
				"each to a different person; they are shown only now:\n",
			threshold, sh->u.arr.n);
		for (size_t i = 0; i < sh->u.arr.n; i++)
			printf("%s\n", sh->u.arr.items[i]->u.str.p);
	} else {
		printf("keystore sealed by %s\n", type);
	}
	return 0;
}

static int op_unseal(struct cli *c)
{
	const struct json_value *j;
	int st = http(c, "GET", "/api/v1/kms/sys/status", NULL, &j);
	if (st != 200)
		return failed(st, j);
	if (!json_get_bool(j, "sealed", false)) {
		printf("keystore is unsealed\n");
		return 0;
	}
	const char *type = json_get_str(j, "seal_type", "");
	char line[KEYSTORE_PASSPHRASE_MAX + 2];
	if (strcmp(type, "auto") == 0) {
		st = http(c, "POST", "/api/v1/kms/sys/unseal", "{}", &j);
		return st == 200 ? 0 : failed(st, j);
	}
	bool pass = strcmp(type, "passphrase") == 0;
	for (;;) {
		if (isatty(0))
			fprintf(stderr, "%s: ", pass ? "passphrase" : "unseal share");
		if (!fgets(line, sizeof(line), stdin))
			return 1;
		trim(line);
		if (!line[0])
			continue;
		char *body = body_of(pass ? "passphrase" : "share", line, NULL);
		bw_wipe(line, sizeof(line));
		if (!body)
			return 1;
		st = http(c, "POST", "/api/v1/kms/sys/unseal", body, &j);
		bw_wipe(body, strlen(body));
		free(body);
		if (st != 200) {
			failed(st, j);
			if (pass)
				return 1;
			continue;
		}
		if (!json_get_bool(j, "sealed", true)) {
			printf("keystore unsealed\n");
			return 0;
		}
		fprintf(stderr, "%lld of %lld shares entered\n",
			(long long)json_get_int(j, "progress", 0),
			(long long)json_get_int(j, "threshold", 0));
	}
}

static int operator_main(struct cli *c, int argc, char **argv)
{
	if (argc < 1)
		return usage();
	const struct json_value *j;
	int st;
	if (strcmp(argv[0], "init") == 0)
		return op_init(c, argc - 1, argv + 1);
	if (strcmp(argv[0], "unseal") == 0)
		return op_unseal(c);
	if (strcmp(argv[0], "status") == 0)
		st = http(c, "GET", "/api/v1/kms/sys/status", NULL, &j);
	else if (strcmp(argv[0], "seal") == 0)
		st = http(c, "POST", "/api/v1/kms/sys/seal", NULL, &j);
	else if (strcmp(argv[0], "unseal-reset") == 0)
		st = http(c, "POST", "/api/v1/kms/sys/unseal-reset", NULL, &j);
	else if (strcmp(argv[0], "rotate-master") == 0)
		st = http(c, "POST", "/api/v1/kms/sys/rotate-master", NULL, &j);
	else
		return usage();
	if (st != 200)
		return failed(st, j);
	print_json(j);
	return 0;
}

/* ------------------------------------------------------------------ kms */

static const char *opt(int argc, char **argv, const char *name)
{
	for (int i = 0; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	return NULL;
}

static bool flag(int argc, char **argv, const char *name)
{
	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return true;
	return false;
}

static int keys_main(struct cli *c, int argc, char **argv)
{
	char path[512];
	const struct json_value *j;
	int st;
	if (argc >= 1 && strcmp(argv[0], "list") == 0) {
		bw_snprintf(path, sizeof(path), "/api/v1/kms/tenants/%s/keys", c->tenant);
		st = http(c, "GET", path, NULL, &j);
	} else if (argc >= 2 && strcmp(argv[0], "create") == 0) {
		const char *type = opt(argc, argv, "--type");
		char *body = body_of("name", argv[1], "type", type, "#exportable",
				     flag(argc, argv, "--exportable") ? "true" : NULL,
				     "#rotate_period_s", opt(argc, argv, "--rotate-period"),
				     NULL);
		if (!type || !body) {
			free(body);
			return usage();
		}
		bw_snprintf(path, sizeof(path), "/api/v1/kms/tenants/%s/keys", c->tenant);
		st = http(c, "POST", path, body, &j);
		free(body);
		if (st == 201)
			st = 200;
	} else if (argc >= 2 && strcmp(argv[0], "get") == 0) {
		bw_snprintf(path, sizeof(path), "/api/v1/kms/tenants/%s/keys/%s", c->tenant,
			    argv[1]);
		st = http(c, "GET", path, NULL, &j);
	} else if (argc >= 2) {
		static const char *const verbs[] = { "rotate", "suspend", "enable",
						     "destroy", "schedule-destroy" };
		bool known = false;
		for (size_t i = 0; i < BW_ARRAY_LEN(verbs); i++)
			known |= strcmp(argv[0], verbs[i]) == 0;
		if (!known || !keystore_name_valid(argv[1], strlen(argv[1])))
			return usage();
		char *body = body_of("#delay_s", opt(argc, argv, "--delay"), NULL);
		bw_snprintf(path, sizeof(path), "/api/v1/kms/tenants/%s/keys/%s/%s",
			    c->tenant, argv[1], argv[0]);
		st = http(c, "POST", path, body, &j);
		free(body);
	} else {
		return usage();
	}
	if (st != 200)
		return failed(st, j);
	print_json(j);
	return 0;
}

/* POST to a key's operation with a body; prints field `show` (decoded
 * from base64 when raw) or the whole JSON. */
static int key_op(struct cli *c, const char *key, const char *op, char *body,
		  const char *show, bool raw)
{
	char path[512];
	const struct json_value *j;
	if (key)
		bw_snprintf(path, sizeof(path), "/api/v1/kms/tenants/%s/keys/%s/%s",
			    c->tenant, key, op);
	else
		bw_snprintf(path, sizeof(path), "/api/v1/kms/tenants/%s/%s", c->tenant, op);
	int st = http(c, strcmp(op, "public-key") == 0 || strcmp(op, "public-key/jwk") == 0 ?
				 "GET" :
				 "POST",
		      path, body, &j);
	if (body) {
		bw_wipe(body, strlen(body));
		free(body);
	}
	if (st != 200)
		return failed(st, j);
	const struct json_value *v = show ? json_get(j, show) : NULL;
	if (show && !v)
		return failed(500, NULL);
	if (!v) {
		print_json(j);
	} else if (raw && v->type == JSON_STRING) {
		uint8_t *out = malloc(v->u.str.len + 3);
		size_t n = 0;
		if (!out || kms_b64_decode(v->u.str.p, v->u.str.len, out, v->u.str.len + 3,
					   &n) < 0) {
			free(out);
			return 1;
		}
		fwrite(out, 1, n, stdout);
		bw_wipe(out, n);
		free(out);
	} else if (v->type == JSON_STRING) {
		printf("%s\n", v->u.str.p);
	} else {
		print_json(v);
	}
	return 0;
}

static int kms_main(struct cli *c, int argc, char **argv)
{
	if (argc < 1)
		return usage();
	const char *cmd = argv[0];
	if (strcmp(cmd, "keys") == 0)
		return keys_main(c, argc - 1, argv + 1);
	const char *key = argc >= 2 && argv[1][0] != '-' ? argv[1] : NULL;
	const char *aad = opt(argc, argv, "--aad");
	char *aad64 = aad ? b64_of((const uint8_t *)aad, strlen(aad)) : NULL;
	int rc = 2;
	if (strcmp(cmd, "random") == 0 && key) {
		rc = key_op(c, NULL, "random", body_of("#bytes", key, NULL), "random", false);
	} else if (strcmp(cmd, "public-key") == 0 && key) {
		rc = key_op(c, key, flag(argc, argv, "--jwk") ? "public-key/jwk" : "public-key",
			    NULL, flag(argc, argv, "--jwk") ? "jwk" : "pem", false);
	} else if (strcmp(cmd, "datakey") == 0 && key) {
		rc = key_op(c, key, "datakey", body_of("aad", aad64, NULL), NULL, false);
	} else if (strcmp(cmd, "encrypt") == 0 || strcmp(cmd, "decrypt") == 0 ||
		   strcmp(cmd, "sign") == 0 || strcmp(cmd, "hmac") == 0 ||
		   strcmp(cmd, "verify") == 0) {
		size_t n;
		uint8_t *in = read_stdin(&n);
		if (!in) {
			free(aad64);
			return 1;
		}
		char *in64 = NULL;
		if (strcmp(cmd, "decrypt") == 0) {
			trim((char *)in);
			rc = key_op(c, key, "decrypt",
				    body_of("ciphertext", (char *)in, "aad", aad64, NULL),
				    "plaintext", true);
		} else if ((in64 = b64_of(in, n)) == NULL) {
			rc = 1;
		} else if (!key) {
			rc = usage();
		} else if (strcmp(cmd, "encrypt") == 0) {
			rc = key_op(c, key, "encrypt",
				    body_of("plaintext", in64, "aad", aad64, NULL),
				    "ciphertext", false);
		} else if (strcmp(cmd, "sign") == 0) {
			rc = key_op(c, key, "sign",
				    body_of("message", in64, "hash", opt(argc, argv, "--hash"),
					    "padding", opt(argc, argv, "--padding"), NULL),
				    "signature", false);
		} else if (strcmp(cmd, "hmac") == 0) {
			rc = key_op(c, key, "hmac", body_of("message", in64, NULL), "mac",
				    false);
		} else if (argc >= 3) { /* verify KEY SIGNATURE */
			char path[512];
			const struct json_value *j = NULL; /* stays NULL when body is */
			char *body = body_of("message", in64, "signature", argv[2], "hash",
					     opt(argc, argv, "--hash"), "padding",
					     opt(argc, argv, "--padding"), NULL);
			bw_snprintf(path, sizeof(path), "/api/v1/kms/tenants/%s/keys/%s/verify",
				    c->tenant, key);
			int st = body ? http(c, "POST", path, body, &j) : -1;
			free(body);
			if (st != 200) {
				rc = failed(st, j);
			} else {
				bool valid = json_get_bool(j, "valid", false);
				printf("%s\n", valid ? "valid" : "invalid");
				rc = valid ? 0 : 1;
			}
		} else {
			rc = usage();
		}
		if (in64)
			bw_wipe(in64, strlen(in64));
		free(in64);
		bw_wipe(in, n);
		free(in);
	} else {
		rc = usage();
	}
	free(aad64);
	return rc;
}

int kms_cli_main(int argc, char **argv)
{
	if (argc < 1)
		return usage();
	struct cli c = { .dir = "var", .tenant = "platform" };
	bool op = strcmp(argv[0], "operator") == 0;
	if (!op && strcmp(argv[0], "kms") != 0)
		return usage();
	/* Common options may come first; the rest belongs to the command. */
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i += 2) {
		if (i + 1 >= argc)
			return usage();
		if (strcmp(argv[i], "--dir") == 0)
			c.dir = argv[i + 1];
		else if (strcmp(argv[i], "--tenant") == 0)
			c.tenant = argv[i + 1];
		else if (strcmp(argv[i], "--url") == 0)
			bw_snprintf(c.url, sizeof(c.url), "%s", argv[i + 1]);
		else if (strcmp(argv[i], "--token") == 0)
			bw_snprintf(c.token, sizeof(c.token), "%s", argv[i + 1]);
		else if (strcmp(argv[i], "--cacert") == 0)
			bw_snprintf(c.cacert, sizeof(c.cacert), "%s", argv[i + 1]);
		else
			return usage();
	}
	if (!keystore_name_valid(c.tenant, strlen(c.tenant))) {
		fprintf(stderr, "bulwark: invalid tenant name\n");
		return 2;
	}
	if (i >= argc)
		return usage();
	c.arena = bw_arena_new(1 << 16, 64 << 20);
	if (!c.arena || curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return 1;
	int rc = discover(&c) < 0 ? 1 :
		 op ? operator_main(&c, argc - i, argv + i) :
		      kms_main(&c, argc - i, argv + i);
	bw_wipe(c.token, sizeof(c.token));
	curl_global_cleanup();
	bw_arena_free(c.arena);
	return rc;
}
