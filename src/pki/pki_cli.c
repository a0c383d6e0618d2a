/*
 * pki_cli.c — `bulwark pki ...`: the certificate authority from the
 * command line, speaking to the running daemon's admin REST API (the
 * daemon's keystore signs; the CLI only moves PEM and JSON). Writes the
 * private key of a generated certificate to a file created with mode 0600
 * and never prints it.
 *
 * The daemon is found like `bulwark kms` finds it: --url, else the admin
 * listener in DATA_DIR/run/ports.json; the token from --token,
 * BULWARK_TOKEN or DATA_DIR/bootstrap-token; the CA from --cacert or
 * DATA_DIR/tls/ca.crt.
 */
#include "pki/pki_lcert_int.h"
#include "json/json.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* CSR files read from disk are bounded like every CSR. */
#define CLI_CSR_MAX PKI_CSR_MAX_HARD

struct pcli {
	const char *dir;
	char url[512];
	char auth[700];
	char cacert[1100];
	struct bw_arena *arena;
};

static int usage(void)
{
	fprintf(stderr,
		"usage: bulwark pki [--dir DATA_DIR] [--url URL] [--token T] [--cacert FILE] <command>\n"
		"  ca list\n"
		"  ca create NAME --subject DN [--key-type T] [--parent CA_ID] [--path-len N]\n"
		"  issue CA_ID [--profile tls-server|tls-client|code-signing|service]\n"
		"        (--csr FILE | --key-type T) [--cn NAME] [--dns NAME]... [--ip ADDR]...\n"
		"        [--uri URI] [--validity-s N] --out PREFIX\n"
		"        writes PREFIX.crt, PREFIX.chain.pem and (generated keys) PREFIX.key\n"
		"  revoke SERIAL [--reason keyCompromise|superseded|...]\n"
		"  list [--search TEXT] [--status good|revoked] [--expiring-days N]\n"
		"  listener-certs\n"
		"  renew LISTENER\n");
	return 2;
}

/* One REST call; OUT: the parsed answer (arena). Returns the HTTP status,
 * or -1 when the daemon could not be reached. */
static long call(struct pcli *c, const char *method, const char *path, const char *body,
		 const struct json_value **out)
{
	char url[1024];
	bw_snprintf(url, sizeof(url), "%s%s", c->url, path);
	struct pki_http_resp r;
	struct bw_err err;
	*out = NULL;
	if (pki_http_do(method, url, c->cacert, body ? "application/json" : NULL, body,
			body ? strlen(body) : 0, c->auth, NULL, &r, &err) < 0) {
		fprintf(stderr, "bulwark pki: %s\n", err.msg);
		return -1;
	}
	if (r.body.len)
		*out = json_parse(c->arena, r.body.data, r.body.len, NULL, &err);
	long st = r.status;
	pki_http_resp_fini(&r);
	if (st >= 300) {
		const struct json_value *e = *out ? json_get(*out, "error") : NULL;
		fprintf(stderr, "bulwark pki: HTTP %ld: %s\n", st,
			e ? json_get_str(e, "message", json_get_str(e, "code", "")) :
			    json_get_str(*out, "message", ""));
	}
	return st;
}

static void print(const struct json_value *v)
{
	struct bw_buf b;
	bw_buf_init(&b, 16u << 20);
	struct json_writer w;
	json_writer_init(&w, &b);
	json_write_value(&w, v);
	if (json_writer_finish(&w) == 0)
		printf("%.*s\n", (int)b.len, b.data);
	bw_buf_fini(&b);
}

/* Finds the daemon and the token (see the file comment). */
static int locate(struct pcli *c, const char *token)
{
	struct bw_err err;
	size_t len;
	char path[1100];
	if (!c->url[0]) {
		bw_snprintf(path, sizeof(path), "%s/run/ports.json", c->dir);
		char *t = bw_file_read(path, 65536, &len, &err);
		const struct json_value *j = t ? json_parse(c->arena, t, len, NULL, &err) : NULL;
		free(t);
		const struct json_value *adm = j ? json_get(j, "admin") : NULL;
		const char *u = adm ? json_get_str(adm, "url", NULL) : NULL;
		if (!u) {
			fprintf(stderr, "bulwark pki: no admin listener in %s; use --url\n", path);
			return -1;
		}
		bw_snprintf(c->url, sizeof(c->url), "%s", u);
	}
	size_t n = strlen(c->url);
	while (n && c->url[n - 1] == '/')
		c->url[--n] = '\0';
	char *file = NULL;
	if (!token)
		token = getenv("BULWARK_TOKEN");
	if (!token) {
		bw_snprintf(path, sizeof(path), "%s/bootstrap-token", c->dir);
		if (!(file = bw_file_read(path, 512, &len, &err))) {
			fprintf(stderr, "bulwark pki: no token (%s)\n", err.msg);
			return -1;
		}
		file[strcspn(file, "\r\n ")] = '\0';
		token = file;
	}
	bw_snprintf(c->auth, sizeof(c->auth), "Authorization: Bearer %s", token);
	if (file) {
		bw_wipe(file, len);
		free(file);
	}
	if (!c->cacert[0])
		bw_snprintf(c->cacert, sizeof(c->cacert), "%s/tls/ca.crt", c->dir);
	return 0;
}

/* The words after the command: up to two positional ones and the known
 * options, each taking a value; --dns, --ip and --uri may repeat. An
 * unknown option is a usage error, so a typo never goes unnoticed. */
enum { O_PROFILE, O_CSR, O_KEY_TYPE, O_CN, O_VALIDITY, O_OUT, O_REASON, O_SEARCH,
       O_STATUS, O_EXPIRING, O_SUBJECT, O_PARENT, O_PATH_LEN, O_DNS, O_IP, O_URI,
       O_COUNT };
static const char *const opt_names[O_COUNT] = {
	"--profile", "--csr", "--key-type", "--cn", "--validity-s", "--out", "--reason",
	"--search", "--status", "--expiring-days", "--subject", "--parent", "--path-len",
	"--dns", "--ip", "--uri",
};

struct args {
	const char *pos[2];
	size_t npos;
	const char *v[O_COUNT];                      /* last value given */
	const char *list[3][PKI_LCERT_NAMES_MAX];    /* --dns, --ip, --uri */
	size_t nlist[3];
};

static int args_parse(int argc, char **argv, struct args *a)
{
	memset(a, 0, sizeof(*a));
	for (int i = 0; i < argc; i++) {
		if (argv[i][0] != '-') {
			if (a->npos == 2)
				return -1;
			a->pos[a->npos++] = argv[i];
			continue;
		}
		int k = 0;
		while (k < O_COUNT && strcmp(argv[i], opt_names[k]) != 0)
			k++;
		if (k == O_COUNT || i + 1 >= argc)
			return -1;
		const char *v = argv[++i];
		a->v[k] = v;
		if (k >= O_DNS) {
			size_t *n = &a->nlist[k - O_DNS];
			if (*n == PKI_LCERT_NAMES_MAX)
				return -1;
			a->list[k - O_DNS][(*n)++] = v;
		}
	}
	return 0;
}

/* ,"key":["v1","v2"] for a repeated option. */
static void write_list(struct json_writer *w, const struct args *a, int k, const char *key)
{
	size_t n = a->nlist[k - O_DNS];
	if (!n)
		return;
	json_write_key(w, key);
	json_write_array_begin(w);
	for (size_t i = 0; i < n; i++)
		json_write_string(w, a->list[k - O_DNS][i]);
	json_write_array_end(w);
}

static const char *or(const char *v, const char *def)
{
	return v ? v : def;
}

static int write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	size_t n = strlen(text);
	if (fd < 0 || write(fd, text, n) != (ssize_t)n || fsync(fd) < 0) {
		perror(path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return close(fd);
}

static int cmd_issue(struct pcli *c, const struct args *a)
{
	const char *out = a->v[O_OUT], *csrf = a->v[O_CSR];
	if (a->npos != 1 || !out)
		return usage();
	struct bw_buf body;
	bw_buf_init(&body, 256 * 1024);
	struct json_writer w;
	json_writer_init(&w, &body);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "profile", or(a->v[O_PROFILE], "tls-server"));
	if (csrf) {
		struct bw_err err;
		size_t len;
		char *csr = bw_file_read(csrf, CLI_CSR_MAX, &len, &err);
		if (!csr) {
			fprintf(stderr, "bulwark pki: %s\n", err.msg);
			bw_buf_fini(&body);
			return 1;
		}
		json_write_key(&w, "csr");
		json_write_stringn(&w, csr, len);
		free(csr);
	} else {
		json_write_kv_string(&w, "key_type", or(a->v[O_KEY_TYPE], "ec-p256"));
	}
	if (a->v[O_CN])
		json_write_kv_string(&w, "common_name", a->v[O_CN]);
	write_list(&w, a, O_DNS, "dns");
	write_list(&w, a, O_IP, "ips");
	write_list(&w, a, O_URI, "uris");
	uint64_t v;
	const char *vs = a->v[O_VALIDITY];
	if (vs && bw_str_to_u64(bw_str_make(vs, strlen(vs)), &v) == 0)
		json_write_kv_int(&w, "validity_s", (int64_t)v);
	json_write_object_end(&w);
	char path[256];
	const struct json_value *j;
	int rc = 1;
	bw_snprintf(path, sizeof(path), "/api/v1/pki/cas/%s/issue", a->pos[0]);
	if (json_writer_finish(&w) < 0 || bw_buf_append_byte(&body, '\0') < 0)
		goto out;
	if (call(c, "POST", path, body.data, &j) != 201 && (!j || !json_get(j, "serial")))
		goto out;
	char file[1200];
	const char *key = json_get_str(j, "private_key", NULL);
	bw_snprintf(file, sizeof(file), "%s.crt", out);
	rc = write_file(file, json_get_str(j, "certificate", ""), 0644) < 0;
	bw_snprintf(file, sizeof(file), "%s.chain.pem", out);
	rc |= write_file(file, json_get_str(j, "chain", ""), 0644) < 0;
	if (key) {
		bw_snprintf(file, sizeof(file), "%s.key", out);
		rc |= write_file(file, key, 0600) < 0;
		bw_wipe((void *)key, strlen(key));
	}
	if (rc == 0)
		printf("serial %s: %s.crt, %s.chain.pem%s%s%s\n", json_get_str(j, "serial", ""),
		       out, out, key ? ", " : "", key ? out : "", key ? ".key (0600)" : "");
out:
	bw_buf_fini(&body);
	return rc;
}

static int cmd_ca(struct pcli *c, const struct args *a)
{
	const struct json_value *j;
	if (a->npos == 1 && strcmp(a->pos[0], "list") == 0) {
		if (call(c, "GET", "/api/v1/pki/cas", NULL, &j) != 200)
			return 1;
		print(j);
		return 0;
	}
	if (a->npos != 2 || strcmp(a->pos[0], "create") != 0 || !a->v[O_SUBJECT])
		return usage();
	struct bw_buf body;
	bw_buf_init(&body, 16384);
	struct json_writer w;
	json_writer_init(&w, &body);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "name", a->pos[1]);
	json_write_kv_string(&w, "subject", a->v[O_SUBJECT]);
	json_write_kv_string(&w, "key_type", or(a->v[O_KEY_TYPE], "ec-p256"));
	if (a->v[O_PARENT])
		json_write_kv_string(&w, "parent_id", a->v[O_PARENT]);
	uint64_t pl;
	const char *ps = a->v[O_PATH_LEN];
	if (ps && bw_str_to_u64(bw_str_make(ps, strlen(ps)), &pl) == 0)
		json_write_kv_int(&w, "path_len", (int64_t)pl);
	json_write_object_end(&w);
	int rc = 1;
	if (json_writer_finish(&w) == 0 && bw_buf_append_byte(&body, '\0') == 0) {
		long st = call(c, "POST", "/api/v1/pki/cas", body.data, &j);
		if (st == 200 || st == 201) {
			print(j);
			rc = 0;
		}
	}
	bw_buf_fini(&body);
	return rc;
}

static int cmd_simple(struct pcli *c, const char *method, const char *path,
		      const char *body, long want)
{
	const struct json_value *j;
	long st = call(c, method, path, body, &j);
	if (st != want && !(want == 200 && st == 201))
		return 1;
	if (j)
		print(j);
	return 0;
}

int pki_cli_main(int argc, char **argv)
{
	struct pcli c = { .dir = "var" };
	const char *token = NULL;
	int i = 1; /* argv[0] is "pki" */
	for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
		if (strcmp(argv[i], "--dir") == 0)
			c.dir = argv[i + 1];
		else if (strcmp(argv[i], "--url") == 0)
			bw_snprintf(c.url, sizeof(c.url), "%s", argv[i + 1]);
		else if (strcmp(argv[i], "--token") == 0)
			token = argv[i + 1];
		else if (strcmp(argv[i], "--cacert") == 0)
			bw_snprintf(c.cacert, sizeof(c.cacert), "%s", argv[i + 1]);
		else
			return usage();
	}
	if (i >= argc)
		return usage();
	const char *cmd = argv[i];
	struct args a;
	if (args_parse(argc - i - 1, argv + i + 1, &a) < 0)
		return usage();
	c.arena = bw_arena_new(1 << 16, 64 << 20);
	if (!c.arena || locate(&c, token) < 0) {
		bw_arena_free(c.arena);
		return 1;
	}
	int rc;
	char path[512], body[128];
	if (strcmp(cmd, "ca") == 0) {
		rc = cmd_ca(&c, &a);
	} else if (strcmp(cmd, "issue") == 0) {
		rc = cmd_issue(&c, &a);
	} else if (strcmp(cmd, "revoke") == 0 && a.npos == 1) {
		const char *reason = a.v[O_REASON];
		bw_snprintf(path, sizeof(path), "/api/v1/pki/certificates/%s/revoke", a.pos[0]);
		bw_snprintf(body, sizeof(body), "{\"reason\":\"%s\"}",
			    reason && strspn(reason, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") ==
						  strlen(reason) ? reason : "unspecified");
		const struct json_value *j;
		rc = call(&c, "POST", path, body, &j) == 200 ? 0 : 1;
		if (rc == 0)
			printf("revoked %s\n", a.pos[0]);
	} else if (strcmp(cmd, "list") == 0) {
		const char *q = a.v[O_SEARCH], *s = a.v[O_STATUS], *d = a.v[O_EXPIRING];
		uint64_t days = 0;
		if (d && bw_str_to_u64(bw_str_make(d, strlen(d)), &days) < 0) {
			bw_arena_free(c.arena);
			return usage();
		}
		struct bw_buf p;
		bw_buf_init(&p, sizeof(path) - 1);
		int w = bw_buf_append_str(&p, "/api/v1/pki/certificates?limit=1000");
		if (q && strspn(q, "abcdefghijklmnopqrstuvwxyz0123456789.-") == strlen(q))
			w |= bw_buf_printf(&p, "&q=%s", q);
		if (s && (strcmp(s, "good") == 0 || strcmp(s, "revoked") == 0))
			w |= bw_buf_printf(&p, "&status=%s", s);
		if (days)
			w |= bw_buf_printf(&p, "&expiring_before=%lld",
					   (long long)(bw_clock_now_s() + (int64_t)days * 86400));
		w |= bw_buf_append_byte(&p, '\0');
		rc = w ? 1 : cmd_simple(&c, "GET", p.data, NULL, 200);
		bw_buf_fini(&p);
	} else if (strcmp(cmd, "listener-certs") == 0) {
		rc = cmd_simple(&c, "GET", "/api/v1/pki/listener-certs", NULL, 200);
	} else if (strcmp(cmd, "renew") == 0 && a.npos == 1) {
		bw_snprintf(path, sizeof(path), "/api/v1/pki/listener-certs/%s/renew", a.pos[0]);
		rc = cmd_simple(&c, "POST", path, "{}", 202);
	} else {
		rc = usage();
	}
	bw_wipe(c.auth, sizeof(c.auth));
	bw_arena_free(c.arena);
	return rc;
}
