/*
 * HTTP driver for the vector runner: the same vectors through a daemon's
 * OpenFGA-compatible API (POST /stores, /authorization-models, /write,
 * /check, /list-objects, /list-users; DELETE /stores/{id}). Models are
 * converted from DSL to JSON here, so a vector that expects a model error
 * is decided by the same reader the daemon runs. Error reasons come from
 * the "reason" member bulwark adds to OpenFGA's error body.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz_vectors.h"

struct http {
	struct vec_driver d;
	const char *url, *token;
	char store_id[AUTHZ_ID_LEN + 1];
	CURL *h;
	struct bw_arena *a; /* per request */
};

static size_t collect(char *p, size_t sz, size_t n, void *arg)
{
	return bw_buf_append(arg, p, sz * n) == 0 ? sz * n : 0;
}

/* Sends body to path; on 2xx returns the parsed JSON answer (or an empty
 * object), otherwise NULL with err filled from the error body. */
static const struct json_value *req(struct http *c, const char *method, const char *path,
				    const char *body, struct bw_err *err)
{
	char url[512], auth[512];
	snprintf(url, sizeof(url), "%s%s", c->url, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->token ? c->token : "");
	struct curl_slist *hdr = curl_slist_append(NULL, auth);
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	struct bw_buf out;
	bw_buf_init(&out, 16 << 20);
	curl_easy_reset(c->h);
	curl_easy_setopt(c->h, CURLOPT_URL, url);
	curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c->h, CURLOPT_WRITEDATA, &out);
	/* Test daemons use their local CA: verify against it when given. */
	const char *ca = getenv("BW_CACERT");
	if (ca && *ca) {
		curl_easy_setopt(c->h, CURLOPT_CAINFO, ca);
	} else {
		curl_easy_setopt(c->h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c->h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (body)
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body);
	CURLcode cc = curl_easy_perform(c->h);
	long status = 0;
	curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdr);
	const struct json_value *v = NULL;
	if (cc != CURLE_OK) {
		bw_err_set(err, 503, "vectors", "transport", "%s", curl_easy_strerror(cc));
	} else {
		v = out.len ? json_parse(c->a, out.data, out.len, NULL, err) :
			      json_parse(c->a, "{}", 2, NULL, err);
		if (v && (status < 200 || status >= 300)) {
			const char *r = json_get_str(v, "reason", json_get_str(v, "code", "http"));
			bw_err_set(err, (int)status, "authz", r, "%s",
				   json_get_str(v, "message", "error"));
			v = NULL;
		}
	}
	bw_buf_fini(&out);
	return v;
}

static void w_tuple(struct json_writer *w, const struct authz_tuple *t)
{
	json_write_object_begin(w);
	json_write_kv_string(w, "object", t->object);
	json_write_kv_string(w, "relation", t->relation);
	json_write_kv_string(w, "user", t->user);
	if (t->cond_name) {
		json_write_key(w, "condition");
		json_write_object_begin(w);
		json_write_kv_string(w, "name", t->cond_name);
		if (t->cond_context) {
			json_write_key(w, "context");
			json_write_value(w, t->cond_context);
		}
		json_write_object_end(w);
	}
	json_write_object_end(w);
}

static void w_tuples(struct json_writer *w, const struct authz_tuple *t, size_t n)
{
	json_write_array_begin(w);
	for (size_t i = 0; i < n; i++)
		w_tuple(w, &t[i]);
	json_write_array_end(w);
}

static void w_query(struct json_writer *w, const struct vec_query *q, bool bare)
{
	if (q->context) {
		json_write_key(w, "context");
		json_write_value(w, q->context);
	}
	if (q->ncontextual) {
		json_write_key(w, "contextual_tuples");
		if (!bare) {
			json_write_object_begin(w);
			json_write_key(w, "tuple_keys");
		}
		w_tuples(w, q->contextual, q->ncontextual);
		if (!bare)
			json_write_object_end(w);
	}
}

static char *finish(struct http *c, struct json_writer *w, struct bw_buf *b)
{
	char *s = json_writer_finish(w) == 0 ? bw_arena_strndup(c->a, b->data, b->len) : NULL;
	bw_buf_fini(b);
	return s;
}

static int h_setup(struct vec_driver *d, const char *name, const char *dsl, struct bw_err *err)
{
	struct http *c = (struct http *)d;
	struct authz_model *m = authz_model_parse_dsl(dsl, strlen(dsl), err);
	if (!m)
		return -1;
	struct bw_buf b;
	bw_buf_init(&b, 1 << 20);
	struct json_writer w;
	json_writer_init(&w, &b);
	json_write_object_begin(&w);
	char sname[AUTHZ_STORE_NAME_BUF];
	snprintf(sname, sizeof(sname), "v-%s", name);
	json_write_kv_string(&w, "name", sname);
	json_write_object_end(&w);
	const struct json_value *v = req(c, "POST", "/stores", finish(c, &w, &b), err);
	const char *id = v ? json_get_str(v, "id", NULL) : NULL;
	if (!id || strlen(id) != AUTHZ_ID_LEN) {
		authz_model_free(m);
		return -1;
	}
	memcpy(c->store_id, id, sizeof(c->store_id));
	bw_buf_init(&b, 1 << 20);
	json_writer_init(&w, &b);
	authz_model_write_json(m, &w, false);
	authz_model_free(m);
	char path[128];
	snprintf(path, sizeof(path), "/stores/%s/authorization-models", c->store_id);
	return req(c, "POST", path, finish(c, &w, &b), err) ? 0 : -1;
}

static void h_teardown(struct vec_driver *d)
{
	struct http *c = (struct http *)d;
	char path[128];
	struct bw_err err;
	if (c->store_id[0]) {
		snprintf(path, sizeof(path), "/stores/%s", c->store_id);
		(void)req(c, "DELETE", path, NULL, &err);
	}
	c->store_id[0] = 0;
}

static int h_write(struct vec_driver *d, const struct authz_write_req *r, struct bw_err *err)
{
	struct http *c = (struct http *)d;
	struct bw_buf b;
	bw_buf_init(&b, 1 << 20);
	struct json_writer w;
	json_writer_init(&w, &b);
	json_write_object_begin(&w);
	if (r->nwrites) {
		json_write_key(&w, "writes");
		json_write_object_begin(&w);
		json_write_key(&w, "tuple_keys");
		w_tuples(&w, r->writes, r->nwrites);
		if (r->on_duplicate == AUTHZ_CONFLICT_IGNORE)
			json_write_kv_string(&w, "on_duplicate", "ignore");
		json_write_object_end(&w);
	}
	if (r->ndeletes) {
		json_write_key(&w, "deletes");
		json_write_object_begin(&w);
		json_write_key(&w, "tuple_keys");
		w_tuples(&w, r->deletes, r->ndeletes);
		if (r->on_missing == AUTHZ_CONFLICT_IGNORE)
			json_write_kv_string(&w, "on_missing", "ignore");
		json_write_object_end(&w);
	}
	json_write_object_end(&w);
	char path[128];
	snprintf(path, sizeof(path), "/stores/%s/write", c->store_id);
	return req(c, "POST", path, finish(c, &w, &b), err) ? 0 : -1;
}

static int h_check(struct vec_driver *d, const struct vec_query *q, const char *user,
		   const char *relation, const char *object, bool *allowed, struct bw_err *err)
{
	struct http *c = (struct http *)d;
	struct bw_buf b;
	bw_buf_init(&b, 1 << 20);
	struct json_writer w;
	json_writer_init(&w, &b);
	json_write_object_begin(&w);
	json_write_key(&w, "tuple_key");
	struct authz_tuple t = { object, relation, user, NULL, NULL };
	w_tuple(&w, &t);
	w_query(&w, q, false);
	json_write_object_end(&w);
	char path[128];
	snprintf(path, sizeof(path), "/stores/%s/check", c->store_id);
	const struct json_value *v = req(c, "POST", path, finish(c, &w, &b), err);
	if (!v)
		return -1;
	*allowed = json_get_bool(v, "allowed", false);
	return 0;
}

static int strings_of(struct http *c, const struct json_value *arr, struct bw_arena *a,
		      const char ***out, size_t *n, bool users)
{
	*n = arr && arr->type == JSON_ARRAY ? arr->u.arr.n : 0;
	*out = bw_arena_zalloc(a, (*n + 1) * sizeof(char *));
	for (size_t i = 0; i < *n; i++) {
		const struct json_value *it = arr->u.arr.items[i];
		if (!users) {
			(*out)[i] = bw_arena_strdup(a, it->type == JSON_STRING ? it->u.str.p : "");
			continue;
		}
		const struct json_value *o = json_get(it, "object"), *wc = json_get(it, "wildcard"),
					*us = json_get(it, "userset");
		if (o)
			(*out)[i] = bw_arena_printf(a, "%s:%s", json_get_str(o, "type", ""),
						    json_get_str(o, "id", ""));
		else if (wc)
			(*out)[i] = bw_arena_printf(a, "%s:*", json_get_str(wc, "type", ""));
		else if (us)
			(*out)[i] = bw_arena_printf(a, "%s:%s#%s", json_get_str(us, "type", ""),
						    json_get_str(us, "id", ""),
						    json_get_str(us, "relation", ""));
		else
			(*out)[i] = "?";
	}
	(void)c;
	return 0;
}

static int h_list_objects(struct vec_driver *d, const struct vec_query *q, const char *type,
			  const char *relation, const char *user, struct bw_arena *a,
			  const char ***objs, size_t *n, struct bw_err *err)
{
	struct http *c = (struct http *)d;
	struct bw_buf b;
	bw_buf_init(&b, 1 << 20);
	struct json_writer w;
	json_writer_init(&w, &b);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "type", type);
	json_write_kv_string(&w, "relation", relation);
	json_write_kv_string(&w, "user", user);
	w_query(&w, q, false);
	json_write_object_end(&w);
	char path[128];
	snprintf(path, sizeof(path), "/stores/%s/list-objects", c->store_id);
	const struct json_value *v = req(c, "POST", path, finish(c, &w, &b), err);
	return v ? strings_of(c, json_get(v, "objects"), a, objs, n, false) : -1;
}

static int h_list_users(struct vec_driver *d, const struct vec_query *q, const char *object,
			const char *relation, const char *ftype, const char *frel,
			struct bw_arena *a, const char ***users, size_t *n, struct bw_err *err)
{
	struct http *c = (struct http *)d;
	struct bw_buf b;
	bw_buf_init(&b, 1 << 20);
	struct json_writer w;
	json_writer_init(&w, &b);
	const char *colon = strchr(object, ':');
	json_write_object_begin(&w);
	json_write_key(&w, "object");
	json_write_object_begin(&w);
	json_write_key(&w, "type");
	json_write_stringn(&w, object, colon ? (size_t)(colon - object) : strlen(object));
	json_write_kv_string(&w, "id", colon ? colon + 1 : "");
	json_write_object_end(&w);
	json_write_kv_string(&w, "relation", relation);
	json_write_key(&w, "user_filters");
	json_write_array_begin(&w);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "type", ftype);
	if (frel)
		json_write_kv_string(&w, "relation", frel);
	json_write_object_end(&w);
	json_write_array_end(&w);
	w_query(&w, q, true);
	json_write_object_end(&w);
	char path[128];
	snprintf(path, sizeof(path), "/stores/%s/list-users", c->store_id);
	const struct json_value *v = req(c, "POST", path, finish(c, &w, &b), err);
	return v ? strings_of(c, json_get(v, "users"), a, users, n, true) : -1;
}

static void h_close(struct vec_driver *d)
{
	struct http *c = (struct http *)d;
	curl_easy_cleanup(c->h);
	bw_arena_free(c->a);
	curl_global_cleanup();
	free(c);
}

struct vec_driver *vec_http_driver(const char *url, const char *token)
{
	struct http *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	c->url = url;
	c->token = token;
	c->h = curl_easy_init();
	/* answers of the whole run live here: small, freed at close */
	c->a = bw_arena_new(1 << 20, (size_t)1 << 30);
	if (!c->h || !c->a) {
		free(c);
		return NULL;
	}
	c->d = (struct vec_driver){ h_setup, h_teardown, h_write, h_check, h_list_objects,
				    h_list_users, h_close };
	return &c->d;
}
