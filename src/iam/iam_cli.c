/*
 * `bulwark iam ...`: tenants, users, groups, membership, OIDC clients,
 * federation providers, MFA-required roles and the caller's step-up through the identity REST API of a running daemon
 * (libcurl), so every change goes through the same checks, permissions and
 * audit records as any other administrator call. Users and groups may be
 * named by id or by name (names are resolved with one listing).
 * (`bulwark iam recover-admin` works on the data directory instead; it is
 * in src/server/server_init.c.)
 *
 * Connection: --url (or $BULWARK_URL, default https://127.0.0.1:9443),
 * --token (or $BULWARK_TOKEN, or --token-file FILE): a session or API key
 * of an administrator (or the bootstrap token while it lives), --cacert
 * FILE or --insecure, --tenant T (default "platform"). Secrets are read
 * from stdin (--password-stdin, --client-secret-stdin), never from argv,
 * which other users can see in the process list.
 * Exit status: 0 success, 1 failure, 2 usage error.
 */
#include "iam/iam_int.h"
#include "json/json.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A response body the CLI keeps: listings of a big tenant are the largest
 * (10,000 users of ~600 bytes). */
#define CLI_RESPONSE_MAX (16u << 20)
/* A password or client secret read from stdin. */
#define CLI_SECRET_MAX 1024

static int usage(void)
{
	fprintf(stderr,
		"usage: bulwark iam <command> [options]\n"
		"  recover-admin (--dir DATA | -c CONFIG) [--user NAME] [--reset-mfa]\n"
		"                [--bootstrap-token]     restore platform administrator access\n"
		"daemon commands (--url URL --token T|--token-file F [--cacert F|--insecure]\n"
		"                 [--tenant T]):\n"
		"  tenant list | tenant get NAME | tenant create NAME [--display-name D]\n"
		"  tenant disable NAME | tenant enable NAME | tenant delete NAME\n"
		"  user list | user get USER\n"
		"  user create NAME [--email E] [--display-name D] [--attrs JSON]\n"
		"              [--password-stdin] [--must-change]\n"
		"  user update USER [--email E] [--display-name D] [--attrs JSON]\n"
		"  user disable USER | user enable USER | user delete USER\n"
		"  user reset-password USER --password-stdin   (changed at next sign-in)\n"
		"  user unlock USER | user groups USER\n"
		"  user sessions USER | user revoke-sessions USER\n"
		"  group list | group create NAME [--description D] | group delete GROUP\n"
		"  group get GROUP | group update GROUP [--name N] [--description D]\n"
		"  group members GROUP | group add GROUP USER | group remove GROUP USER\n"
		"  oidc client list | oidc client delete ID\n"
		"  oidc client create NAME --redirect-uris URIS [--grant-types G]\n"
		"              [--scopes S] [--public]\n"
		"  oidc rotate-key [--alg ES256|EdDSA|RS256]\n"
		"  federation list | federation get NAME | federation delete NAME\n"
		"  federation add NAME --issuer URL --client-id ID [--client-secret-stdin]\n"
		"              [--scopes S] [--username-claim C] [--link-email]\n"
		"              [--no-provision]\n"
		"  mfa roles | mfa require-role ROLE | mfa unrequire-role ROLE\n"
		"  session status | session step-up (--code-stdin | --password-stdin)\n"
		"              (the token's own session: TOTP or recovery code, or the\n"
		"              password of a user without a second factor)\n"
		"USER and GROUP are ids or names.\n");
	return 2;
}

struct client {
	const char *url, *token, *cacert, *tenant;
	bool insecure;
	char token_buf[1100];
};

static size_t collect(char *p, size_t sz, size_t n, void *arg)
{
	struct bw_buf *b = arg;
	return bw_buf_append(b, p, sz * n) == 0 ? sz * n : 0;
}

/* One request; out gets the body. Returns 0 for 2xx, else -1 (printed). */
static int call(const struct client *c, const char *method, const char *path,
		const char *body, struct bw_buf *out)
{
	CURL *h = curl_easy_init();
	if (!h)
		return -1;
	char url[2048], auth[1200];
	if (bw_snprintf(url, sizeof(url), "%s%s", c->url, path) < 0 ||
	    bw_snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
			c->token ? c->token : "") < 0) {
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
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
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
	bw_wipe(auth, sizeof(auth));
	if (cc != CURLE_OK) {
		fprintf(stderr, "%s: %s\n", url, curl_easy_strerror(cc));
		return -1;
	}
	if (status < 200 || status >= 300) {
		fprintf(stderr, "HTTP %ld: %s\n", status, out->data ? out->data : "");
		if (status == 401 && out->data && strstr(out->data, "\"step_up_required\""))
			fprintf(stderr, "bulwark: this operation needs a recent second factor:"
					" run `bulwark iam session step-up --code-stdin` (or"
					" --password-stdin without one) and retry\n");
		return -1;
	}
	return 0;
}

static int run(const struct client *c, const char *method, const char *path,
	       const char *body)
{
	struct bw_buf out;
	bw_buf_init(&out, CLI_RESPONSE_MAX);
	int rc = call(c, method, path, body, &out);
	if (rc == 0 && out.len)
		printf("%s\n", out.data);
	bw_buf_wipe_fini(&out);
	return rc == 0 ? 0 : 1;
}

/* Reads one line (a secret) from stdin into out; trailing newline cut. */
static int read_secret(char *out, size_t cap)
{
	if (!fgets(out, (int)cap, stdin)) {
		fprintf(stderr, "bulwark: no secret on stdin\n");
		return -1;
	}
	size_t n = strlen(out);
	if (n == cap - 1 && out[n - 1] != '\n') {
		fprintf(stderr, "bulwark: secret too long\n");
		bw_wipe(out, cap);
		return -1;
	}
	while (n && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		out[--n] = 0;
	return 0;
}

/* A path segment must not carry '/', '?', '#', '%' or spaces. */
static bool seg_ok(const char *s)
{
	if (!s[0] || strlen(s) > 256)
		return false;
	for (; *s; s++)
		if (*s == '/' || *s == '?' || *s == '#' || *s == '%' ||
		    (unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/*
 * The id of a user or group named by id or by name in the tenant: one
 * listing (kind "users" / "groups"), matched on "id" first, then on
 * "name" without regard to ASCII case. OUT: id.
 */
static int resolve(const struct client *c, const char *kind, const char *ref,
		   char id[IAM_ID_LEN + 1])
{
	char path[512];
	struct bw_buf out;
	struct bw_err err;
	int rc = -1;
	bw_buf_init(&out, CLI_RESPONSE_MAX);
	struct bw_arena *a = bw_arena_new(65536, 256u << 20);
	if (!a || bw_snprintf(path, sizeof(path), "/api/v1/iam/tenants/%s/%s",
			      c->tenant, kind) < 0 ||
	    call(c, "GET", path, NULL, &out) < 0)
		goto out;
	const struct json_value *v =
	    json_parse(a, out.data ? out.data : "", out.len, NULL, &err);
	const struct json_value *list = v ? json_get(v, kind) : NULL;
	if (!list || list->type != JSON_ARRAY) {
		fprintf(stderr, "bulwark: unexpected answer listing %s\n", kind);
		goto out;
	}
	for (int pass = 0; pass < 2 && rc < 0; pass++) {
		for (size_t i = 0; i < list->u.arr.n; i++) {
			const struct json_value *e = list->u.arr.items[i];
			const struct json_value *iv = json_get(e, "id");
			const struct json_value *nv = json_get(e, pass ? "name" : "id");
			if (!iv || iv->type != JSON_STRING || !nv ||
			    nv->type != JSON_STRING || iv->u.str.len > IAM_ID_LEN)
				continue;
			bool same = pass ? strcasecmp(nv->u.str.p, ref) == 0
					 : strcmp(nv->u.str.p, ref) == 0;
			if (same) {
				memcpy(id, iv->u.str.p, iv->u.str.len);
				id[iv->u.str.len] = 0;
				rc = 0;
				break;
			}
		}
	}
	if (rc < 0)
		fprintf(stderr, "bulwark: no %s '%s' in tenant %s\n",
			strcmp(kind, "users") == 0 ? "user" : "group", ref, c->tenant);
out:
	bw_arena_free(a);
	bw_buf_wipe_fini(&out);
	return rc;
}

/* Command options after the positional words. */
struct opts {
	const char *email, *display_name, *attrs, *description;
	const char *redirect_uris, *grant_types, *scopes, *alg;
	const char *issuer, *client_id, *username_claim, *name;
	bool password_stdin, must_change, is_public, secret_stdin;
	bool link_email, no_provision, code_stdin;
};

static int parse_opts(int argc, char **argv, int first, struct opts *o)
{
	static const struct {
		const char *name;
		size_t off;
	} vals[] = {
	    {"--email", offsetof(struct opts, email)},
	    {"--display-name", offsetof(struct opts, display_name)},
	    {"--attrs", offsetof(struct opts, attrs)},
	    {"--description", offsetof(struct opts, description)},
	    {"--redirect-uris", offsetof(struct opts, redirect_uris)},
	    {"--grant-types", offsetof(struct opts, grant_types)},
	    {"--scopes", offsetof(struct opts, scopes)},
	    {"--alg", offsetof(struct opts, alg)},
	    {"--issuer", offsetof(struct opts, issuer)},
	    {"--client-id", offsetof(struct opts, client_id)},
	    {"--username-claim", offsetof(struct opts, username_claim)},
	    {"--name", offsetof(struct opts, name)},
	};
	static const struct {
		const char *name;
		size_t off;
	} flags[] = {
	    {"--password-stdin", offsetof(struct opts, password_stdin)},
	    {"--must-change", offsetof(struct opts, must_change)},
	    {"--public", offsetof(struct opts, is_public)},
	    {"--client-secret-stdin", offsetof(struct opts, secret_stdin)},
	    {"--link-email", offsetof(struct opts, link_email)},
	    {"--no-provision", offsetof(struct opts, no_provision)},
	    {"--code-stdin", offsetof(struct opts, code_stdin)},
	};
	for (int i = first; i < argc; i++) {
		bool known = false;
		for (size_t k = 0; k < BW_ARRAY_LEN(vals) && !known; k++)
			if (strcmp(argv[i], vals[k].name) == 0 && i + 1 < argc) {
				const char *v = argv[++i];
				memcpy((char *)o + vals[k].off, &v, sizeof(v));
				known = true;
			}
		for (size_t k = 0; k < BW_ARRAY_LEN(flags) && !known; k++)
			if (strcmp(argv[i], flags[k].name) == 0) {
				bool t = true;
				memcpy((char *)o + flags[k].off, &t, sizeof(t));
				known = true;
			}
		if (!known) {
			fprintf(stderr, "bulwark: unexpected argument '%s'\n", argv[i]);
			return -1;
		}
	}
	return 0;
}

/* Writes "key": <JSON text> (attributes), checked to be an object. */
static int write_raw_object(struct json_writer *w, struct bw_arena *a,
			    const char *key, const char *text)
{
	struct bw_err err;
	const struct json_value *v = json_parse(a, text, strlen(text), NULL, &err);
	if (!v || v->type != JSON_OBJECT) {
		fprintf(stderr, "bulwark: %s must be a JSON object\n", key);
		return -1;
	}
	json_write_key(w, key);
	json_write_value(w, v);
	return 0;
}

static void kv_opt(struct json_writer *w, const char *k, const char *v)
{
	if (v)
		json_write_kv_string(w, k, v);
}

/* Runs one command; argv[0] is the object ("user"), argv[1] the verb. */
static int command(struct client *c, int argc, char **argv)
{
	const char *obj = argv[0], *verb = argc > 1 ? argv[1] : "";
	const char *a2 = argc > 2 ? argv[2] : NULL, *a3 = argc > 3 ? argv[3] : NULL;
	char base[256], path[1024], id[IAM_ID_LEN + 1], id2[IAM_ID_LEN + 1];
	char secret[CLI_SECRET_MAX] = "";
	struct opts o;
	memset(&o, 0, sizeof(o));
	struct bw_buf b;
	bw_buf_init(&b, 1 << 20);
	struct bw_arena *ar = bw_arena_new(4096, 1 << 20);
	struct json_writer w;
	json_writer_init(&w, &b);
	int rc = 2;
	if (!ar || !seg_ok(c->tenant))
		goto out;
	bw_snprintf(base, sizeof(base), "/api/v1/iam/tenants/%s", c->tenant);
	/* How many positional words each command takes. */
	int npos = 2;
	if ((a2 && strncmp(a2, "--", 2) != 0))
		npos = 3;
	if (npos == 3 && a3 && strncmp(a3, "--", 2) != 0)
		npos = 4;
	if (strcmp(obj, "oidc") == 0 && strcmp(verb, "client") == 0) {
		/* "oidc client VERB [ARG]": shift by one. */
		obj = "oidc-client";
		verb = a2 ? a2 : "";
		a2 = a3;
		a3 = NULL;
	}
	if (parse_opts(argc, argv, npos, &o) < 0)
		goto out;
	if ((a2 && !seg_ok(a2)) || (a3 && !seg_ok(a3))) {
		fprintf(stderr, "bulwark: names and ids are single path segments\n");
		goto out;
	}
	rc = 1;
#define IS(ob, vb) (strcmp(obj, ob) == 0 && strcmp(verb, vb) == 0)
	if (IS("tenant", "list")) {
		rc = run(c, "GET", "/api/v1/iam/tenants", NULL);
	} else if (IS("tenant", "get") && a2) {
		bw_snprintf(path, sizeof(path), "/api/v1/iam/tenants/%s", a2);
		rc = run(c, "GET", path, NULL);
	} else if (IS("tenant", "create") && a2) {
		json_write_object_begin(&w);
		json_write_kv_string(&w, "name", a2);
		kv_opt(&w, "display_name", o.display_name);
		json_write_object_end(&w);
		rc = json_writer_finish(&w) < 0 ? 1
						: run(c, "POST", "/api/v1/iam/tenants", b.data);
	} else if ((IS("tenant", "disable") || IS("tenant", "enable")) && a2) {
		bw_snprintf(path, sizeof(path), "/api/v1/iam/tenants/%s", a2);
		rc = run(c, "PATCH", path,
			 IS("tenant", "disable") ? "{\"disabled\":true}" : "{\"disabled\":false}");
	} else if (IS("tenant", "delete") && a2) {
		bw_snprintf(path, sizeof(path), "/api/v1/iam/tenants/%s", a2);
		rc = run(c, "DELETE", path, NULL);
	} else if (IS("user", "list")) {
		bw_snprintf(path, sizeof(path), "%s/users", base);
		rc = run(c, "GET", path, NULL);
	} else if (IS("user", "create") && a2) {
		json_write_object_begin(&w);
		json_write_kv_string(&w, "name", a2);
		kv_opt(&w, "email", o.email);
		kv_opt(&w, "display_name", o.display_name);
		if (o.attrs && write_raw_object(&w, ar, "attributes", o.attrs) < 0)
			goto out;
		if (o.password_stdin) {
			if (read_secret(secret, sizeof(secret)) < 0)
				goto out;
			json_write_kv_string(&w, "password", secret);
		}
		if (o.must_change)
			json_write_kv_bool(&w, "must_change_password", true);
		json_write_object_end(&w);
		bw_snprintf(path, sizeof(path), "%s/users", base);
		rc = json_writer_finish(&w) < 0 ? 1 : run(c, "POST", path, b.data);
	} else if (strcmp(obj, "user") == 0 && a2) {
		if (resolve(c, "users", a2, id) < 0)
			goto out;
		bw_snprintf(path, sizeof(path), "%s/users/%s", base, id);
		size_t pl = strlen(path);
		if (IS("user", "get")) {
			rc = run(c, "GET", path, NULL);
		} else if (IS("user", "update")) {
			json_write_object_begin(&w);
			kv_opt(&w, "email", o.email);
			kv_opt(&w, "display_name", o.display_name);
			if (o.attrs && write_raw_object(&w, ar, "attributes", o.attrs) < 0)
				goto out;
			json_write_object_end(&w);
			rc = json_writer_finish(&w) < 0 ? 1 : run(c, "PATCH", path, b.data);
		} else if (IS("user", "disable") || IS("user", "enable")) {
			rc = run(c, "PATCH", path,
				 IS("user", "disable") ? "{\"disabled\":true}"
						       : "{\"disabled\":false}");
		} else if (IS("user", "delete")) {
			rc = run(c, "DELETE", path, NULL);
		} else if (IS("user", "reset-password") && o.password_stdin) {
			if (read_secret(secret, sizeof(secret)) < 0)
				goto out;
			json_write_object_begin(&w);
			json_write_kv_string(&w, "password", secret);
			json_write_object_end(&w);
			bw_snprintf(path + pl, sizeof(path) - pl, "/password");
			rc = json_writer_finish(&w) < 0 ? 1 : run(c, "POST", path, b.data);
		} else if (IS("user", "unlock")) {
			bw_snprintf(path + pl, sizeof(path) - pl, "/unlock");
			rc = run(c, "POST", path, NULL);
		} else if (IS("user", "groups")) {
			bw_snprintf(path + pl, sizeof(path) - pl, "/groups");
			rc = run(c, "GET", path, NULL);
		} else if (IS("user", "sessions")) {
			bw_snprintf(path + pl, sizeof(path) - pl, "/sessions");
			rc = run(c, "GET", path, NULL);
		} else if (IS("user", "revoke-sessions")) {
			bw_snprintf(path + pl, sizeof(path) - pl, "/sessions");
			rc = run(c, "DELETE", path, NULL);
		} else {
			rc = usage();
		}
	} else if (IS("group", "list")) {
		bw_snprintf(path, sizeof(path), "%s/groups", base);
		rc = run(c, "GET", path, NULL);
	} else if (IS("group", "create") && a2) {
		json_write_object_begin(&w);
		json_write_kv_string(&w, "name", a2);
		kv_opt(&w, "description", o.description);
		json_write_object_end(&w);
		bw_snprintf(path, sizeof(path), "%s/groups", base);
		rc = json_writer_finish(&w) < 0 ? 1 : run(c, "POST", path, b.data);
	} else if (strcmp(obj, "group") == 0 && a2) {
		if (resolve(c, "groups", a2, id) < 0)
			goto out;
		if (IS("group", "get")) {
			bw_snprintf(path, sizeof(path), "%s/groups/%s", base, id);
			rc = run(c, "GET", path, NULL);
		} else if (IS("group", "update")) {
			json_write_object_begin(&w);
			kv_opt(&w, "name", o.name);
			kv_opt(&w, "description", o.description);
			json_write_object_end(&w);
			bw_snprintf(path, sizeof(path), "%s/groups/%s", base, id);
			rc = json_writer_finish(&w) < 0 ? 1 : run(c, "PATCH", path, b.data);
		} else if (IS("group", "delete")) {
			bw_snprintf(path, sizeof(path), "%s/groups/%s", base, id);
			rc = run(c, "DELETE", path, NULL);
		} else if (IS("group", "members")) {
			bw_snprintf(path, sizeof(path), "%s/groups/%s/members", base, id);
			rc = run(c, "GET", path, NULL);
		} else if ((IS("group", "add") || IS("group", "remove")) && a3) {
			if (resolve(c, "users", a3, id2) < 0)
				goto out;
			bw_snprintf(path, sizeof(path), "%s/groups/%s/members/%s", base, id,
				    id2);
			rc = run(c, IS("group", "add") ? "PUT" : "DELETE", path, NULL);
		} else {
			rc = usage();
		}
	} else if (IS("oidc-client", "list")) {
		bw_snprintf(path, sizeof(path), "%s/oidc/clients", base);
		rc = run(c, "GET", path, NULL);
	} else if (IS("oidc-client", "create") && a2) {
		json_write_object_begin(&w);
		json_write_kv_string(&w, "name", a2);
		kv_opt(&w, "redirect_uris", o.redirect_uris);
		kv_opt(&w, "grant_types", o.grant_types);
		kv_opt(&w, "scopes", o.scopes);
		if (o.is_public)
			json_write_kv_bool(&w, "public", true);
		json_write_object_end(&w);
		bw_snprintf(path, sizeof(path), "%s/oidc/clients", base);
		rc = json_writer_finish(&w) < 0 ? 1 : run(c, "POST", path, b.data);
	} else if (IS("oidc-client", "delete") && a2) {
		bw_snprintf(path, sizeof(path), "%s/oidc/clients/%s", base, a2);
		rc = run(c, "DELETE", path, NULL);
	} else if (IS("oidc", "rotate-key")) {
		json_write_object_begin(&w);
		kv_opt(&w, "alg", o.alg);
		json_write_object_end(&w);
		bw_snprintf(path, sizeof(path), "%s/oidc/keys/rotate", base);
		rc = json_writer_finish(&w) < 0 ? 1 : run(c, "POST", path, b.data);
	} else if (IS("federation", "list")) {
		bw_snprintf(path, sizeof(path), "%s/federation/providers", base);
		rc = run(c, "GET", path, NULL);
	} else if ((IS("federation", "get") || IS("federation", "delete")) && a2) {
		bw_snprintf(path, sizeof(path), "%s/federation/providers/%s", base, a2);
		rc = run(c, IS("federation", "get") ? "GET" : "DELETE", path, NULL);
	} else if (IS("mfa", "roles")) {
		bw_snprintf(path, sizeof(path), "%s/mfa/roles", base);
		rc = run(c, "GET", path, NULL);
	} else if ((IS("mfa", "require-role") || IS("mfa", "unrequire-role")) && a2) {
		bw_snprintf(path, sizeof(path), "%s/mfa/roles/%s", base, a2);
		rc = run(c, IS("mfa", "require-role") ? "PUT" : "DELETE", path, NULL);
	} else if (IS("session", "status")) {
		rc = run(c, "GET", "/api/v1/iam/self/step-up", NULL);
	} else if (IS("session", "step-up") && (o.code_stdin || o.password_stdin)) {
		if (read_secret(secret, sizeof(secret)) < 0)
			goto out;
		json_write_object_begin(&w);
		json_write_kv_string(&w, o.code_stdin ? "code" : "password", secret);
		json_write_object_end(&w);
		rc = json_writer_finish(&w) < 0 ? 1
						: run(c, "POST", "/api/v1/iam/self/step-up", b.data);
	} else if (IS("federation", "add") && a2) {
		json_write_object_begin(&w);
		json_write_kv_string(&w, "name", a2);
		kv_opt(&w, "issuer", o.issuer);
		kv_opt(&w, "client_id", o.client_id);
		kv_opt(&w, "scopes", o.scopes);
		kv_opt(&w, "username_claim", o.username_claim);
		if (o.secret_stdin) {
			if (read_secret(secret, sizeof(secret)) < 0)
				goto out;
			json_write_kv_string(&w, "client_secret", secret);
		}
		json_write_kv_bool(&w, "link_email", o.link_email);
		json_write_kv_bool(&w, "provision", !o.no_provision);
		json_write_object_end(&w);
		bw_snprintf(path, sizeof(path), "%s/federation/providers", base);
		rc = json_writer_finish(&w) < 0 ? 1 : run(c, "POST", path, b.data);
	} else {
		rc = usage();
	}
#undef IS
out:
	bw_wipe(secret, sizeof(secret));
	if (b.data)
		bw_wipe(b.data, b.len);
	bw_buf_fini(&b);
	bw_arena_free(ar);
	return rc;
}

int iam_cli_main(int argc, char **argv)
{
	struct client c = {.url = getenv("BULWARK_URL"),
			   .token = getenv("BULWARK_TOKEN"),
			   .tenant = "platform"};
	if (!c.url)
		c.url = "https://127.0.0.1:9443";
	/* Connection options anywhere; the rest stays in order. */
	char **rest = calloc((size_t)argc + 1, sizeof(char *));
	int n = 0, rc = 2;
	if (!rest)
		return 1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--url") == 0 && i + 1 < argc)
			c.url = argv[++i];
		else if (strcmp(argv[i], "--token") == 0 && i + 1 < argc)
			c.token = argv[++i];
		else if (strcmp(argv[i], "--token-file") == 0 && i + 1 < argc) {
			struct bw_err err;
			size_t len;
			char *t = bw_file_read(argv[++i], sizeof(c.token_buf) - 1, &len, &err);
			if (!t) {
				fprintf(stderr, "bulwark: %s\n", err.msg);
				goto out;
			}
			while (len && (t[len - 1] == '\n' || t[len - 1] == '\r'))
				len--;
			memcpy(c.token_buf, t, len);
			c.token_buf[len] = 0;
			bw_wipe(t, len);
			free(t);
			c.token = c.token_buf;
		} else if (strcmp(argv[i], "--cacert") == 0 && i + 1 < argc)
			c.cacert = argv[++i];
		else if (strcmp(argv[i], "--insecure") == 0)
			c.insecure = true;
		else if (strcmp(argv[i], "--tenant") == 0 && i + 1 < argc)
			c.tenant = argv[++i];
		else
			rest[n++] = argv[i];
	}
	if (n < 1 || strcmp(rest[0], "help") == 0) {
		rc = usage();
		goto out;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		rc = 1;
		goto out;
	}
	rc = command(&c, n, rest);
	curl_global_cleanup();
out:
	bw_wipe(c.token_buf, sizeof(c.token_buf));
	free(rest);
	return rc;
}
