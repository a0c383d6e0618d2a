/*
 * Semantic test vectors for the authorization engine: runs every
 * tests/authz/NAME.yaml file (model, tuples, and the expected answers of
 * check, list-objects, list-users, writes and model errors) and reports
 * each mismatch. The vectors are written from OpenFGA's documentation; a
 * failure means bulwark answers differently from what OpenFGA documents.
 *
 * Usage: authz_vectors [--url URL [--token TOKEN]] FILE|DIR...
 * Without --url the vectors run in process against a fresh engine on a
 * temporary database; with --url they run through a daemon's
 * OpenFGA-compatible HTTP API (…/stores/...), through the same driver
 * interface, so both paths must give the same answers.
 *
 * Vector format (YAML):
 *   tests:
 *     - name: union
 *       model: |            # DSL; or model_error: "substring" to expect refusal
 *         model ...
 *       tuples: ["document:1#viewer@user:anne",
 *                {tuple: "document:1#viewer@user:bob", condition: c, context: {x: 1}}]
 *       checks:
 *         - {tuple: "document:1#viewer@user:anne", allowed: true}
 *         - {tuple: ..., context: {...}, contextual: [...], error: missing_context}
 *       list_objects:
 *         - {user: "user:anne", relation: viewer, type: document, objects: [...]}
 *       list_users:
 *         - {object: "document:1", relation: viewer, filter: "user", users: [...]}
 *       writes:
 *         - {tuples: [...], deletes: [...], error: reason}   # or ok: true
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "authz/authz.h"
#include "conf/conf.h"
#include "store/store.h"
#include "authz_vectors.h"

static int failures, assertions;
static const char *cur_file, *cur_test;

static void failf(const struct conf_node *n, const char *fmt, ...) BW_PRINTF(2, 3);
static void failf(const struct conf_node *n, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "FAIL %s:%u: [%s] %s\n", cur_file, n ? n->line : 0, cur_test, msg);
	failures++;
}

/* --------------------------------------------------------- YAML -> JSON */

static bool looks_number(const char *s)
{
	const char *p = s;
	if (*p == '-')
		p++;
	if (!(*p >= '0' && *p <= '9'))
		return false;
	char *end;
	strtod(s, &end);
	return *end == 0;
}

static void to_json(const struct conf_node *n, struct json_writer *w)
{
	switch (n->kind) {
	case CONF_SCALAR:
		if (n->null)
			json_write_null(w);
		else if (!n->quoted && (strcmp(n->str, "true") == 0 || strcmp(n->str, "false") == 0))
			json_write_bool(w, n->str[0] == 't');
		else if (!n->quoted && looks_number(n->str))
			json_write_value(w, &(struct json_value){
						    .type = JSON_NUMBER,
						    .u.num = { .raw = bw_str_make(n->str, n->len) } });
		else
			json_write_string(w, n->str);
		return;
	case CONF_SEQUENCE:
		json_write_array_begin(w);
		for (size_t i = 0; i < n->nitems; i++)
			to_json(n->items[i], w);
		json_write_array_end(w);
		return;
	case CONF_MAPPING:
		json_write_object_begin(w);
		for (size_t i = 0; i < n->nitems; i++) {
			json_write_key(w, n->items[i]->key);
			to_json(n->items[i], w);
		}
		json_write_object_end(w);
		return;
	}
}

const struct json_value *vec_json(struct bw_arena *a, const struct conf_node *n)
{
	if (!n)
		return NULL;
	struct bw_buf b;
	bw_buf_init(&b, 1 << 20);
	struct json_writer w;
	json_writer_init(&w, &b);
	to_json(n, &w);
	const struct json_value *v = NULL;
	struct bw_err err;
	if (json_writer_finish(&w) == 0)
		v = json_parse(a, b.data, b.len, NULL, &err);
	bw_buf_fini(&b);
	return v;
}

/* "object#relation@user" */
static int split_tuple(struct bw_arena *a, const char *s, struct authz_tuple *t)
{
	const char *h = strchr(s, '#');
	const char *at = h ? strchr(h, '@') : NULL;
	if (!h || !at)
		return -1;
	t->object = bw_arena_strndup(a, s, (size_t)(h - s));
	t->relation = bw_arena_strndup(a, h + 1, (size_t)(at - h - 1));
	t->user = bw_arena_strdup(a, at + 1);
	return 0;
}

static int parse_tuple(struct bw_arena *a, const struct conf_node *n, struct authz_tuple *t)
{
	memset(t, 0, sizeof(*t));
	if (n->kind == CONF_SCALAR)
		return split_tuple(a, n->str, t);
	if (n->kind != CONF_MAPPING)
		return -1;
	const struct conf_node *tt = conf_get(n, "tuple");
	if (!tt || tt->kind != CONF_SCALAR || split_tuple(a, tt->str, t) < 0)
		return -1;
	const struct conf_node *c = conf_get(n, "condition");
	if (c)
		t->cond_name = c->str;
	t->cond_context = vec_json(a, conf_get(n, "context"));
	return 0;
}

static int parse_tuples(struct bw_arena *a, const struct conf_node *seq, struct authz_tuple **out,
			size_t *n)
{
	*n = conf_len(seq);
	*out = bw_arena_zalloc(a, (*n ? *n : 1) * sizeof(**out));
	for (size_t i = 0; i < *n; i++)
		if (parse_tuple(a, conf_at(seq, i), &(*out)[i]) < 0) {
			failf(conf_at(seq, i), "bad tuple");
			return -1;
		}
	return 0;
}

static bool same_set(const char **got, size_t ngot, const struct conf_node *want)
{
	if (ngot != conf_len(want))
		return false;
	for (size_t i = 0; i < ngot; i++) {
		bool found = false;
		for (size_t k = 0; k < conf_len(want) && !found; k++)
			found = strcmp(conf_at(want, k)->str, got[i]) == 0;
		if (!found)
			return false;
	}
	return true;
}

static void fmt_list(char *out, size_t cap, const char **v, size_t n)
{
	size_t k = 0;
	out[0] = 0;
	for (size_t i = 0; i < n && k < cap; i++)
		k += (size_t)snprintf(out + k, cap - k, "%s%s", i ? ", " : "", v[i]);
}

/* ------------------------------------------------------------ one test */

static void expect_err(const struct conf_node *n, const char *what, int rc,
		       const struct bw_err *err, const char *want_reason)
{
	assertions++;
	if (want_reason) {
		if (rc == 0)
			failf(n, "%s: succeeded, want error %s", what, want_reason);
		else if (strcmp(err->reason, want_reason) != 0)
			failf(n, "%s: error %s (%s), want %s", what, err->reason, err->msg, want_reason);
	} else if (rc < 0) {
		failf(n, "%s: unexpected error %s: %s", what, err->reason, err->msg);
	}
}

static void run_test(struct vec_driver *d, const struct conf_node *t)
{
	struct bw_arena *a = bw_arena_new(65536, (size_t)256 << 20);
	const struct conf_node *name = conf_get(t, "name");
	cur_test = name ? name->str : "?";
	const struct conf_node *model = conf_get(t, "model");
	const struct conf_node *merr = conf_get(t, "model_error");
	struct bw_err err;
	bw_err_clear(&err);
	int rc = d->setup(d, cur_test, model ? model->str : "", &err);
	assertions++;
	if (merr) {
		if (rc == 0)
			failf(merr, "model accepted, want an error containing '%s'", merr->str);
		else if (!strstr(err.msg, merr->str))
			failf(merr, "model error '%s' lacks '%s'", err.msg, merr->str);
		goto out;
	}
	if (rc < 0) {
		failf(model, "setup failed: %s", err.msg);
		goto out;
	}
	struct authz_tuple *tup;
	size_t ntup;
	const struct conf_node *tn = conf_get(t, "tuples");
	if (tn && parse_tuples(a, tn, &tup, &ntup) == 0) {
		/* write in chunks below the per-write limit */
		for (size_t i = 0; i < ntup; i += 100) {
			struct authz_write_req req = { .writes = tup + i,
						       .nwrites = ntup - i > 100 ? 100 : ntup - i };
			if (d->write(d, &req, &err) < 0) {
				failf(tn, "writing tuples: %s", err.msg);
				goto out;
			}
		}
	}
	const struct conf_node *ws = conf_get(t, "writes");
	for (size_t i = 0; i < conf_len(ws); i++) {
		const struct conf_node *w = conf_at(ws, i);
		struct authz_write_req req = { 0 };
		struct authz_tuple *wt = NULL, *dt = NULL;
		if ((conf_get(w, "tuples") &&
		     parse_tuples(a, conf_get(w, "tuples"), &wt, &req.nwrites) < 0) ||
		    (conf_get(w, "deletes") &&
		     parse_tuples(a, conf_get(w, "deletes"), &dt, &req.ndeletes) < 0))
			continue;
		req.writes = wt;
		req.deletes = dt;
		const struct conf_node *od = conf_get(w, "on_duplicate");
		const struct conf_node *om = conf_get(w, "on_missing");
		req.on_duplicate = od && strcmp(od->str, "ignore") == 0 ? AUTHZ_CONFLICT_IGNORE : 0;
		req.on_missing = om && strcmp(om->str, "ignore") == 0 ? AUTHZ_CONFLICT_IGNORE : 0;
		const struct conf_node *e = conf_get(w, "error");
		bw_err_clear(&err);
		rc = d->write(d, &req, &err);
		expect_err(w, "write", rc, &err, e ? e->str : NULL);
	}
	const struct conf_node *cs = conf_get(t, "checks");
	for (size_t i = 0; i < conf_len(cs); i++) {
		const struct conf_node *c = conf_at(cs, i);
		struct authz_tuple k;
		const struct conf_node *tt = conf_get(c, "tuple");
		if (!tt || split_tuple(a, tt->str, &k) < 0) {
			failf(c, "check needs tuple: object#relation@user");
			continue;
		}
		struct vec_query q = { .context = vec_json(a, conf_get(c, "context")) };
		if (conf_get(c, "contextual"))
			(void)parse_tuples(a, conf_get(c, "contextual"), &q.contextual, &q.ncontextual);
		const struct conf_node *want = conf_get(c, "allowed");
		const struct conf_node *e = conf_get(c, "error");
		bool allowed = false;
		bw_err_clear(&err);
		rc = d->check(d, &q, k.user, k.relation, k.object, &allowed, &err);
		if (e) {
			expect_err(c, tt->str, rc, &err, e->str);
			continue;
		}
		assertions++;
		if (rc < 0)
			failf(c, "check %s: error %s: %s", tt->str, err.reason, err.msg);
		else if (!want || allowed != (strcmp(want->str, "true") == 0))
			failf(c, "check %s: got %s, want %s", tt->str, allowed ? "true" : "false",
			      want ? want->str : "?");
	}
	const struct conf_node *lo = conf_get(t, "list_objects");
	for (size_t i = 0; i < conf_len(lo); i++) {
		const struct conf_node *c = conf_at(lo, i);
		struct vec_query q = { .context = vec_json(a, conf_get(c, "context")) };
		if (conf_get(c, "contextual"))
			(void)parse_tuples(a, conf_get(c, "contextual"), &q.contextual, &q.ncontextual);
		const char **objs = NULL;
		size_t n = 0;
		const struct conf_node *u = conf_get(c, "user"), *r = conf_get(c, "relation"),
				       *ty = conf_get(c, "type"), *want = conf_get(c, "objects");
		if (!u || !r || !ty || !want) {
			failf(c, "list_objects needs user, relation, type, objects");
			continue;
		}
		bw_err_clear(&err);
		rc = d->list_objects(d, &q, ty->str, r->str, u->str, a, &objs, &n, &err);
		assertions++;
		char got[2048];
		if (rc < 0) {
			failf(c, "list_objects: %s", err.msg);
		} else if (!same_set(objs, n, want)) {
			fmt_list(got, sizeof(got), objs, n);
			failf(c, "list_objects %s %s %s: got [%s]", u->str, r->str, ty->str, got);
		}
	}
	const struct conf_node *lu = conf_get(t, "list_users");
	for (size_t i = 0; i < conf_len(lu); i++) {
		const struct conf_node *c = conf_at(lu, i);
		struct vec_query q = { .context = vec_json(a, conf_get(c, "context")) };
		if (conf_get(c, "contextual"))
			(void)parse_tuples(a, conf_get(c, "contextual"), &q.contextual, &q.ncontextual);
		const struct conf_node *o = conf_get(c, "object"), *r = conf_get(c, "relation"),
				       *f = conf_get(c, "filter"), *want = conf_get(c, "users");
		if (!o || !r || !f || !want) {
			failf(c, "list_users needs object, relation, filter, users");
			continue;
		}
		char ftype[128];
		snprintf(ftype, sizeof(ftype), "%s", f->str);
		char *frel = strchr(ftype, '#');
		if (frel)
			*frel++ = 0;
		const char **users = NULL;
		size_t n = 0;
		bw_err_clear(&err);
		rc = d->list_users(d, &q, o->str, r->str, ftype, frel, a, &users, &n, &err);
		assertions++;
		char got[2048];
		if (rc < 0) {
			failf(c, "list_users: %s", err.msg);
		} else if (!same_set(users, n, want)) {
			fmt_list(got, sizeof(got), users, n);
			failf(c, "list_users %s %s %s: got [%s]", o->str, r->str, f->str, got);
		}
	}
out:
	d->teardown(d);
	bw_arena_free(a);
}

static int run_file(struct vec_driver *d, const char *path)
{
	struct bw_arena *a = bw_arena_new(65536, (size_t)64 << 20);
	struct bw_err err;
	cur_file = path;
	struct conf_doc *doc = conf_load_file(path, a, &err);
	if (!doc) {
		fprintf(stderr, "FAIL %s\n", err.msg);
		failures++;
		bw_arena_free(a);
		return -1;
	}
	const struct conf_node *tests = conf_get(doc->root, "tests");
	for (size_t i = 0; i < conf_len(tests); i++)
		run_test(d, conf_at(tests, i));
	bw_arena_free(a);
	return 0;
}

static int cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

static void run_path(struct vec_driver *d, const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		perror(path);
		failures++;
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		run_file(d, path);
		return;
	}
	DIR *dir = opendir(path);
	char *names[256];
	size_t n = 0;
	struct dirent *e;
	while (dir && (e = readdir(dir)) && n < 256) {
		size_t l = strlen(e->d_name);
		if (l > 5 && strcmp(e->d_name + l - 5, ".yaml") == 0)
			names[n++] = strdup(e->d_name);
	}
	if (dir)
		closedir(dir);
	qsort(names, n, sizeof(*names), cmp);
	for (size_t i = 0; i < n; i++) {
		char p[4096];
		snprintf(p, sizeof(p), "%s/%s", path, names[i]);
		run_file(d, p);
		free(names[i]);
	}
}

int main(int argc, char **argv)
{
	const char *url = NULL, *token = NULL;
	int i = 1;
	for (; i < argc; i++) {
		if (strcmp(argv[i], "--url") == 0 && i + 1 < argc)
			url = argv[++i];
		else if (strcmp(argv[i], "--token") == 0 && i + 1 < argc)
			token = argv[++i];
		else
			break;
	}
	if (i == argc) {
		fprintf(stderr, "usage: authz_vectors [--url URL [--token TOKEN]] FILE|DIR...\n");
		return 2;
	}
	log_init("authz_vectors", BW_LOG_WARN, 2);
	struct vec_driver *d = url ? vec_http_driver(url, token) : vec_lib_driver();
	if (!d) {
		fprintf(stderr, "cannot start the %s driver\n", url ? "HTTP" : "library");
		return 1;
	}
	for (; i < argc; i++)
		run_path(d, argv[i]);
	d->close(d);
	printf("%d assertions, %d failures (%s)\n", assertions, failures, url ? url : "in process");
	return failures ? 1 : 0;
}
