/*
 * `bulwark authz ...`: model tooling that needs no daemon (validate a .fga
 * file with LINE:COLUMN errors, convert DSL <-> JSON, print the platform
 * role table) and store, model, tuple and query commands that speak the
 * OpenFGA-compatible REST API of a running daemon with libcurl.
 *
 * Daemon commands take --url (or $BULWARK_URL, default
 * https://127.0.0.1:9443), --token (or $BULWARK_TOKEN, or --token-file),
 * --cacert FILE or --insecure. Exit status: 0 success (and "allowed" for
 * check), 1 failure or "denied", 2 usage error.
 */
#include "authz/authz_int.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void)
{
	fprintf(stderr,
		"usage: bulwark authz <command> [args]\n"
		"  model validate FILE.fga          check a model (prints LINE:COL: error)\n"
		"  model json FILE.fga              print the model in OpenFGA JSON\n"
		"  model dsl FILE.json              print a JSON model as DSL\n"
		"  roles-md                         print the platform role table (docs/roles.md)\n"
		"  platform-model                   print the built-in platform model\n"
		"daemon commands (--url URL --token T [--cacert F | --insecure]):\n"
		"  store create NAME | store list | store delete STORE\n"
		"  model write STORE FILE.fga|FILE.json\n"
		"  tuple write STORE OBJECT RELATION USER [--condition NAME --context JSON]\n"
		"  tuple delete STORE OBJECT RELATION USER\n"
		"  check STORE USER RELATION OBJECT [--context JSON]\n"
		"  list-objects STORE USER RELATION TYPE [--context JSON]\n"
		"  role grant|revoke TENANT ROLE SUBJECT  platform roles (SUBJECT: user:ID,\n"
		"                                   apikey:ID or group:ID#member)\n"
		"  role list TENANT | roles | routes    grants, the role table, every route\n");
	return 2;
}

static char *slurp(const char *path, size_t *len)
{
	struct bw_err err;
	char *s = bw_file_read(path, AUTHZ_MODEL_MAX_BYTES, len, &err);
	if (!s)
		fprintf(stderr, "%s: %s\n", path, err.msg);
	return s;
}

static bool ends_with(const char *s, const char *sfx)
{
	size_t n = strlen(s), m = strlen(sfx);
	return n >= m && strcmp(s + n - m, sfx) == 0;
}

/* Reads a model from .fga (DSL) or .json. */
static struct authz_model *load_model(const char *path)
{
	size_t len;
	char *text = slurp(path, &len);
	if (!text)
		return NULL;
	struct bw_err err;
	struct authz_model *m = ends_with(path, ".json") ? authz_model_parse_json(text, len, &err) :
							   authz_model_parse_dsl(text, len, &err);
	if (!m)
		fprintf(stderr, "%s:%s\n", path, err.msg);
	free(text);
	return m;
}

static int print_json(const struct authz_model *m)
{
	struct bw_buf b;
	bw_buf_init(&b, AUTHZ_MODEL_MAX_BYTES * 8);
	struct json_writer w;
	json_writer_init(&w, &b);
	authz_model_write_json(m, &w, false);
	int rc = json_writer_finish(&w);
	if (rc == 0)
		printf("%s\n", b.data);
	bw_buf_fini(&b);
	return rc == 0 ? 0 : 1;
}

/* ---------------------------------------------------------- REST client */

struct client {
	const char *url, *token, *cacert;
	bool insecure;
};

static size_t collect(char *p, size_t sz, size_t n, void *arg)
{
	struct bw_buf *b = arg;
	return bw_buf_append(b, p, sz * n) == 0 ? sz * n : 0;
}

/* One request; prints the body (JSON) and returns 0 for 2xx. */
static int call(const struct client *c, const char *method, const char *path, const char *body,
		struct bw_buf *out)
{
	CURL *h = curl_easy_init();
	if (!h)
		return -1;
	char url[1024], auth[600];
	if (bw_snprintf(url, sizeof(url), "%s%s", c->url, path) < 0 ||
	    bw_snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->token ? c->token : "") < 0) {
		curl_easy_cleanup(h);
		return -1;
	}
	struct curl_slist *hdr = curl_slist_append(NULL, auth);
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
	if (body)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	if (c->cacert)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->cacert);
	if (c->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	CURLcode cc = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	if (cc != CURLE_OK) {
		fprintf(stderr, "%s: %s\n", url, curl_easy_strerror(cc));
		return -1;
	}
	if (status < 200 || status >= 300) {
		fprintf(stderr, "HTTP %ld: %s\n", status, out->data ? out->data : "");
		return -1;
	}
	return 0;
}

static int run(const struct client *c, const char *method, const char *path, const char *body)
{
	struct bw_buf out;
	bw_buf_init(&out, 16 << 20);
	int rc = call(c, method, path, body, &out);
	if (rc == 0 && out.len)
		printf("%s\n", out.data);
	bw_buf_fini(&out);
	return rc == 0 ? 0 : 1;
}

/* Writes {"user","relation","object"[,"condition"]} as the tuple_key. */
static void tuple_key(struct json_writer *w, const char *key, const char *user,
		      const char *rel, const char *obj, const char *cond,
		      const struct json_value *ctx)
{
	json_write_key(w, key);
	json_write_object_begin(w);
	json_write_kv_string(w, "user", user);
	json_write_kv_string(w, "relation", rel);
	json_write_kv_string(w, "object", obj);
	if (cond) {
		json_write_key(w, "condition");
		json_write_object_begin(w);
		json_write_kv_string(w, "name", cond);
		if (ctx) {
			json_write_key(w, "context");
			json_write_value(w, ctx);
		}
		json_write_object_end(w);
	}
	json_write_object_end(w);
}

static int daemon_cmd(struct client *c, int argc, char **argv, const char *cond,
		      const char *context)
{
	struct bw_arena *a = bw_arena_new(4096, 1 << 20);
	struct bw_buf b;
	bw_buf_init(&b, AUTHZ_MODEL_MAX_BYTES * 8);
	struct json_writer w;
	json_writer_init(&w, &b);
	char path[2048];
	int rc = 2;
	const struct json_value *ctx = NULL;
	struct bw_err err;
	if (context && !(ctx = json_parse(a, context, strlen(context), NULL, &err))) {
		fprintf(stderr, "--context: %s\n", err.msg);
		goto out;
	}
#define ARGS(n) (argc == (n))
	const char *cmd = argv[0], *sub = argc > 1 ? argv[1] : "";
	if (strcmp(cmd, "store") == 0 && strcmp(sub, "create") == 0 && ARGS(3)) {
		json_write_object_begin(&w);
		json_write_kv_string(&w, "name", argv[2]);
		json_write_object_end(&w);
		rc = json_writer_finish(&w) < 0 ? 1 : run(c, "POST", "/stores", b.data);
	} else if (strcmp(cmd, "store") == 0 && strcmp(sub, "list") == 0 && ARGS(2)) {
		rc = run(c, "GET", "/stores", NULL);
	} else if (strcmp(cmd, "store") == 0 && strcmp(sub, "delete") == 0 && ARGS(3)) {
		snprintf(path, sizeof(path), "/stores/%s", argv[2]);
		rc = run(c, "DELETE", path, NULL);
	} else if (strcmp(cmd, "model") == 0 && strcmp(sub, "write") == 0 && ARGS(4)) {
		struct authz_model *m = load_model(argv[3]);
		rc = 1;
		if (m) {
			authz_model_write_json(m, &w, false);
			snprintf(path, sizeof(path), "/stores/%s/authorization-models", argv[2]);
			rc = json_writer_finish(&w) < 0 ? 1 : run(c, "POST", path, b.data);
			authz_model_free(m);
		}
	} else if (strcmp(cmd, "tuple") == 0 && (strcmp(sub, "write") == 0 || strcmp(sub, "delete") == 0) &&
		   ARGS(6)) {
		bool del = strcmp(sub, "delete") == 0;
		json_write_object_begin(&w);
		json_write_key(&w, del ? "deletes" : "writes");
		json_write_object_begin(&w);
		json_write_key(&w, "tuple_keys");
		json_write_array_begin(&w);
		json_write_object_begin(&w);
		json_write_kv_string(&w, "object", argv[3]);
		json_write_kv_string(&w, "relation", argv[4]);
		json_write_kv_string(&w, "user", argv[5]);
		if (cond && !del) {
			json_write_key(&w, "condition");
			json_write_object_begin(&w);
			json_write_kv_string(&w, "name", cond);
			if (ctx) {
				json_write_key(&w, "context");
				json_write_value(&w, ctx);
			}
			json_write_object_end(&w);
		}
		json_write_object_end(&w);
		json_write_array_end(&w);
		json_write_object_end(&w);
		json_write_object_end(&w);
		snprintf(path, sizeof(path), "/stores/%s/write", argv[2]);
		rc = json_writer_finish(&w) < 0 ? 1 : run(c, "POST", path, b.data);
	} else if (strcmp(cmd, "check") == 0 && ARGS(5)) {
		json_write_object_begin(&w);
		tuple_key(&w, "tuple_key", argv[2], argv[3], argv[4], NULL, NULL);
		if (ctx) {
			json_write_key(&w, "context");
			json_write_value(&w, ctx);
		}
		json_write_object_end(&w);
		snprintf(path, sizeof(path), "/stores/%s/check", argv[1]);
		struct bw_buf out;
		bw_buf_init(&out, 1 << 20);
		rc = 1;
		if (json_writer_finish(&w) == 0 && call(c, "POST", path, b.data, &out) == 0) {
			printf("%s\n", out.data);
			rc = strstr(out.data, "\"allowed\":true") ? 0 : 1;
		}
		bw_buf_fini(&out);
	} else if (strcmp(cmd, "list-objects") == 0 && ARGS(5)) {
		json_write_object_begin(&w);
		json_write_kv_string(&w, "user", argv[2]);
		json_write_kv_string(&w, "relation", argv[3]);
		json_write_kv_string(&w, "type", argv[4]);
		if (ctx) {
			json_write_key(&w, "context");
			json_write_value(&w, ctx);
		}
		json_write_object_end(&w);
		snprintf(path, sizeof(path), "/stores/%s/list-objects", argv[1]);
		rc = json_writer_finish(&w) < 0 ? 1 : run(c, "POST", path, b.data);
	} else if (strcmp(cmd, "role") == 0 && (strcmp(sub, "grant") == 0 || strcmp(sub, "revoke") == 0) &&
		   ARGS(5)) {
		/* the subject is one path segment: '#' (group:ID#member) and
		 * anything outside [A-Za-z0-9:_.-] percent-encoded */
		char subj[AUTHZ_SUBJECT_MAX * 3 + 1];
		size_t k = 0;
		for (const char *q = argv[4]; *q && k + 4 < sizeof(subj); q++) {
			unsigned char ch = (unsigned char)*q;
			if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			    (ch >= '0' && ch <= '9') || ch == ':' || ch == '_' || ch == '.' || ch == '-') {
				subj[k++] = (char)ch;
			} else {
				static const char hex[] = "0123456789ABCDEF";
				subj[k++] = '%';
				subj[k++] = hex[ch >> 4];
				subj[k++] = hex[ch & 15];
			}
		}
		subj[k] = 0;
		if (bw_snprintf(path, sizeof(path), "/api/v1/authz/tenants/%s/roles/%s/members/%s",
				argv[2], argv[3], subj) < 0) {
			fprintf(stderr, "role: arguments too long\n");
			rc = 1;
		} else {
			rc = run(c, strcmp(sub, "grant") == 0 ? "PUT" : "DELETE", path, NULL);
		}
	} else if (strcmp(cmd, "role") == 0 && strcmp(sub, "list") == 0 && ARGS(3)) {
		if (bw_snprintf(path, sizeof(path), "/api/v1/authz/tenants/%s/role-assignments",
				argv[2]) < 0) {
			fprintf(stderr, "role: tenant too long\n");
			rc = 1;
		} else {
			rc = run(c, "GET", path, NULL);
		}
	} else if ((strcmp(cmd, "roles") == 0 || strcmp(cmd, "routes") == 0) && ARGS(1)) {
		snprintf(path, sizeof(path), "/api/v1/authz/%s", cmd);
		rc = run(c, "GET", path, NULL);
	} else {
		rc = usage();
	}
#undef ARGS
out:
	bw_buf_fini(&b);
	bw_arena_free(a);
	return rc;
}

int authz_cli_main(int argc, char **argv)
{
	/* argv[0] is "authz" */
	if (argc < 2)
		return usage();
	const char *cmd = argv[1];
	if (strcmp(cmd, "roles-md") == 0 && argc == 2) {
		struct bw_buf b;
		bw_buf_init(&b, 1 << 20);
		int rc = authz_platform_roles_md(&b);
		if (rc == 0)
			fwrite(b.data, 1, b.len, stdout);
		bw_buf_fini(&b);
		return rc == 0 ? 0 : 1;
	}
	if (strcmp(cmd, "platform-model") == 0 && argc == 2) {
		fputs(authz_platform_model_text(), stdout);
		return 0;
	}
	if (strcmp(cmd, "model") == 0 && argc == 4 &&
	    (strcmp(argv[2], "validate") == 0 || strcmp(argv[2], "json") == 0 ||
	     strcmp(argv[2], "dsl") == 0)) {
		struct authz_model *m = load_model(argv[3]);
		if (!m)
			return 1;
		int rc = 0;
		if (strcmp(argv[2], "validate") == 0) {
			printf("%s: model OK (%zu types, %zu conditions)\n", argv[3], m->ntypes,
			       m->nconds);
		} else if (strcmp(argv[2], "json") == 0) {
			rc = print_json(m);
		} else {
			struct bw_buf b;
			bw_buf_init(&b, AUTHZ_MODEL_MAX_BYTES * 8);
			rc = authz_model_write_dsl(m, &b) == 0 ? 0 : 1;
			if (rc == 0)
				fwrite(b.data, 1, b.len, stdout);
			bw_buf_fini(&b);
		}
		authz_model_free(m);
		return rc;
	}
	/* daemon commands: options anywhere after the command */
	struct client c = { .url = getenv("BULWARK_URL"), .token = getenv("BULWARK_TOKEN") };
	const char *cond = NULL, *context = NULL, *token_file = NULL;
	char *args[16];
	int n = 0;
	for (int i = 1; i < argc; i++) {
		bool has = i + 1 < argc;
		if (strcmp(argv[i], "--url") == 0 && has)
			c.url = argv[++i];
		else if (strcmp(argv[i], "--token") == 0 && has)
			c.token = argv[++i];
		else if (strcmp(argv[i], "--token-file") == 0 && has)
			token_file = argv[++i];
		else if (strcmp(argv[i], "--cacert") == 0 && has)
			c.cacert = argv[++i];
		else if (strcmp(argv[i], "--insecure") == 0)
			c.insecure = true;
		else if (strcmp(argv[i], "--condition") == 0 && has)
			cond = argv[++i];
		else if (strcmp(argv[i], "--context") == 0 && has)
			context = argv[++i];
		else if (n < (int)BW_ARRAY_LEN(args) && argv[i][0] != '-')
			args[n++] = argv[i];
		else
			return usage();
	}
	if (n == 0)
		return usage();
	if (!c.url)
		c.url = "https://127.0.0.1:9443";
	char *tok = NULL;
	if (token_file) {
		size_t len;
		if (!(tok = slurp(token_file, &len)))
			return 1;
		while (len && (tok[len - 1] == '\n' || tok[len - 1] == '\r'))
			tok[--len] = 0;
		c.token = tok;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int rc = daemon_cmd(&c, n, args, cond, context);
	curl_global_cleanup();
	if (tok) {
		bw_wipe(tok, strlen(tok));
		free(tok);
	}
	return rc;
}
