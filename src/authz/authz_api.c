/*
 * The OpenFGA-compatible HTTP API on the admin listener, mounted twice:
 * at /stores/... (so an OpenFGA SDK pointed at bulwark works unchanged)
 * and at /api/v1/fga/stores/... (bulwark's own namespace). Request and
 * response bodies have OpenFGA's shapes, including its error body
 * {"code": "...", "message": "..."}.
 *
 * Every handler parses the JSON body on the loop thread and does its work
 * on the thread pool (writes block until durable; list calls may take up
 * to their deadline), then answers on the loop. State changes (stores,
 * models, tuple writes) are audited routes: the audit record is durable
 * before the client gets its answer. Stores are per tenant: a store of
 * another tenant answers 404 exactly as a missing one.
 *
 * Invariants: handlers never hold an engine lock across a thread hop; all
 * request memory is the job's own arena, freed when the call ends.
 */
#include "authz/authz_int.h"
#include "api/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct authz_engine *engine; /* set once at start-up */

/* --------------------------------------------------------------- jobs */

struct job;
typedef int (*job_fn)(struct job *j);

struct job {
	struct api_call *call;
	struct bw_arena *a;
	job_fn fn;
	const struct json_value *body;
	const char *tenant, *store_id, *model_id;
	struct bw_str query;
	bool mutating;
	int status;
	struct bw_buf *out;
	const char *body_error; /* reported after the store is found */
	bool quiet;     /* batch items: record errors, leave out alone */
	char qmsg[160]; /* the recorded error */
};

static void jerr_reason(struct job *j, int status, const char *code, const char *msg,
			const char *reason);

static void jerr(struct job *j, int status, const char *code, const char *msg)
{
	jerr_reason(j, status, code, msg, NULL);
}

/* OpenFGA's error body, plus bulwark's finer reason token (ignored by
 * OpenFGA clients; the vector runner and the CLI read it). */
static void jerr_reason(struct job *j, int status, const char *code, const char *msg,
			const char *reason)
{
	if (j->quiet) {
		snprintf(j->qmsg, sizeof(j->qmsg), "%s", msg);
		return;
	}
	bw_buf_reset(j->out);
	struct json_writer w;
	json_writer_init(&w, j->out);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "code", code);
	json_write_kv_string(&w, "message", msg);
	if (reason)
		json_write_kv_string(&w, "reason", reason);
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0)
		bw_buf_reset(j->out); /* the message did not fit: send no body */
	j->status = status;
}

/* Maps an engine error to OpenFGA's status and code. */
static int fail_err(struct job *j, const struct bw_err *err)
{
	const char *code = err->reason[0] ? err->reason : "internal_error";
	int status = err->code ? err->code : 500;
	if (strcmp(code, "exists") == 0 || strcmp(code, "not_found_delete") == 0) {
		status = 400;
		code = "write_failed_due_to_invalid_input";
	} else if (strcmp(code, "store_not_found") == 0) {
		code = "store_id_not_found";
	} else if (strcmp(code, "model_not_found") == 0 || strcmp(code, "no_model") == 0) {
		code = "authorization_model_not_found";
	} else if (strcmp(code, "resolution_too_complex") == 0) {
		code = "authorization_model_resolution_too_complex";
	} else if (status == 400 && strcmp(code, "invalid_continuation_token") != 0 &&
		   strcmp(code, "invalid_model") != 0) {
		code = "validation_error";
	} else if (strcmp(code, "invalid_model") == 0) {
		code = "invalid_authorization_model";
	}
	if (status >= 500)
		log_warnx("authz api: %s: %s", err->reason, err->msg);
	jerr_reason(j, status, code, status >= 500 ? "internal error" : err->msg, err->reason);
	return -1;
}

static int bad(struct job *j, const char *msg)
{
	jerr(j, 400, "validation_error", msg);
	return -1;
}

static void job_work(void *arg)
{
	struct job *j = arg;
	j->status = 200;
	/* The platform store holds bulwark's own role grants: through this
	 * API it does not exist (404 like any other unknown id), so the
	 * authz.tuple.write permission cannot be turned into any role. */
	if (j->store_id && authz_platform_store_is(engine, j->tenant, j->store_id)) {
		jerr_reason(j, 404, "store_id_not_found", "store not found", "store_not_found");
		return;
	}
	/* An unknown (or another tenant's) store answers 404 before anything
	 * about the request is judged: a body error must not be what tells
	 * a caller that some other tenant's store id was wrong or right. */
	struct authz_store_info info;
	struct bw_err err;
	if (j->store_id && authz_store_get(engine, j->tenant, j->store_id, &info, &err) < 0) {
		fail_err(j, &err);
		return;
	}
	if (j->body_error) {
		jerr(j, 400, "validation_error", j->body_error);
		return;
	}
	if (j->fn(j) == 0 && j->status == 0)
		j->status = 200;
}

static void job_done(void *arg)
{
	struct job *j = arg;
	struct api_call *call = j->call;
	int status = j->status;
	bool mutating = j->mutating;
	bw_arena_free(j->a);
	free(j);
	if (mutating)
		api_reply_audited(call, status,
				  status < 300 ? AUDIT_OUTCOME_SUCCESS :
				  status == 401 || status == 403 ? AUDIT_OUTCOME_DENIED :
								   AUDIT_OUTCOME_FAILURE);
	else
		api_reply(call, status);
}

static void start(struct api_call *call, job_fn fn, bool mutating, bool needs_body)
{
	struct job *j = calloc(1, sizeof(*j));
	struct bw_arena *a = j ? bw_arena_new(16384, AUTHZ_QUERY_ARENA_MAX) : NULL;
	if (!a) {
		free(j);
		api_fail(call, 503, "overloaded", "out of memory");
		return;
	}
	j->call = call;
	j->a = a;
	j->fn = fn;
	j->mutating = mutating;
	j->out = api_out(call);
	j->tenant = api_tenant(call);
	j->store_id = api_param(call, "store_id");
	j->model_id = api_param(call, "id");
	const struct http_request *r = net_request(api_exchange(call));
	if (r->has_query)
		j->query = bw_str_make(bw_arena_strndup(a, r->query.p, r->query.len), r->query.len);
	if (j->store_id)
		api_set_target(call, j->store_id);
	if (needs_body) {
		struct bw_err err;
		j->body = api_body_json(call, &err);
		if (!j->body || j->body->type != JSON_OBJECT)
			j->body_error = j->body ? "the body must be a JSON object" :
						  bw_arena_strdup(a, err.msg);
	}
	struct tpool *pool = api_context(call)->pool;
	if (!pool) {
		job_work(j);
		job_done(j);
		return;
	}
	if (tpool_submit(pool, job_work, job_done, j, api_loop(call)) < 0) {
		jerr(j, 503, "overloaded", "the server is busy");
		job_done(j);
	}
}

/* ------------------------------------------------------------ helpers */

/* A query-string parameter, percent-decoded into the job arena. */
static const char *qparam(struct job *j, const char *name)
{
	size_t nl = strlen(name);
	const char *p = j->query.p, *end = p ? p + j->query.len : NULL;
	while (p && p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(stop - p));
		if (eq && (size_t)(eq - p) == nl && memcmp(p, name, nl) == 0) {
			char *out = bw_arena_alloc(j->a, (size_t)(stop - eq));
			size_t n = 0;
			for (const char *s = eq + 1; s < stop && out; s++) {
				if (*s == '%' && stop - s > 2) {
					char hex[3] = { s[1], s[2], 0 };
					char *e;
					long v = strtol(hex, &e, 16);
					if (*e || v == 0)
						return NULL;
					out[n++] = (char)v;
					s += 2;
				} else {
					out[n++] = *s == '+' ? ' ' : *s;
				}
			}
			if (out)
				out[n] = 0;
			return out;
		}
		p = amp ? amp + 1 : NULL;
	}
	return NULL;
}

static int page_size_of(struct job *j, const char *s, size_t *out)
{
	*out = 0;
	if (!s || !*s)
		return 0;
	uint64_t v;
	if (bw_str_to_u64(bw_str_make(s, strlen(s)), &v) < 0 || v < 1 || v > AUTHZ_PAGE_MAX)
		return bad(j, "page_size must be between 1 and 100");
	*out = (size_t)v;
	return 0;
}

static const char *jstr(const struct json_value *v, const char *key)
{
	const struct json_value *m = json_get(v, key);
	return m && m->type == JSON_STRING ? m->u.str.p : NULL;
}

/* A tuple key {"object","relation","user","condition":{"name","context"}}. */
static int tuple_of(struct job *j, const struct json_value *v, struct authz_tuple *t)
{
	memset(t, 0, sizeof(*t));
	if (!v || v->type != JSON_OBJECT)
		return bad(j, "a tuple key must be an object");
	t->object = jstr(v, "object");
	t->relation = jstr(v, "relation");
	t->user = jstr(v, "user");
	const struct json_value *c = json_get(v, "condition");
	if (c && c->type == JSON_OBJECT) {
		t->cond_name = jstr(c, "name");
		t->cond_context = json_get(c, "context");
		if (!t->cond_name || !*t->cond_name)
			return bad(j, "a condition needs a name");
	} else if (c && c->type != JSON_NULL) {
		return bad(j, "condition must be an object");
	}
	return 0;
}

static int tuples_of(struct job *j, const struct json_value *arr, size_t max,
		     struct authz_tuple **out, size_t *n)
{
	*n = 0;
	*out = NULL;
	if (!arr || arr->type == JSON_NULL)
		return 0;
	if (arr->type != JSON_ARRAY)
		return bad(j, "tuple_keys must be an array");
	if (arr->u.arr.n > max)
		return bad(j, "too many tuples in the request");
	*out = bw_arena_zalloc(j->a, (arr->u.arr.n ? arr->u.arr.n : 1) * sizeof(**out));
	if (!*out)
		return bad(j, "out of memory");
	for (size_t i = 0; i < arr->u.arr.n; i++)
		if (tuple_of(j, arr->u.arr.items[i], &(*out)[i]) < 0)
			return -1;
	*n = arr->u.arr.n;
	return 0;
}

/* The query fields every read shares: model id, consistency, context and
 * contextual tuples ({"tuple_keys": [...]} or, in list-users, [...]). */
static int query_of(struct job *j, const struct json_value *b, struct authz_query *q)
{
	memset(q, 0, sizeof(*q));
	q->tenant = j->tenant;
	q->store_id = j->store_id;
	q->model_id = jstr(b, "authorization_model_id");
	const char *cons = jstr(b, "consistency");
	if (cons && strcmp(cons, "HIGHER_CONSISTENCY") == 0)
		q->consistency = AUTHZ_CONSISTENCY_HIGHER;
	else if (cons && strcmp(cons, "MINIMIZE_LATENCY") == 0)
		q->consistency = AUTHZ_CONSISTENCY_MINIMIZE_LATENCY;
	else if (cons && strcmp(cons, "UNSPECIFIED") != 0 && strcmp(cons, "CONSISTENCY_UNSPECIFIED") != 0)
		return bad(j, "unknown consistency preference");
	const struct json_value *ctx = json_get(b, "context");
	if (ctx && ctx->type != JSON_OBJECT && ctx->type != JSON_NULL)
		return bad(j, "context must be an object");
	q->context = ctx;
	const struct json_value *ct = json_get(b, "contextual_tuples");
	if (ct && ct->type == JSON_OBJECT)
		ct = json_get(ct, "tuple_keys");
	struct authz_tuple *t;
	if (tuples_of(j, ct, AUTHZ_CONTEXTUAL_MAX, &t, &q->ncontextual) < 0)
		return -1;
	q->contextual = t;
	return 0;
}

static void write_time(struct json_writer *w, const char *key, int64_t ns)
{
	char ts[32];
	bw_time_format(ns, ts);
	json_write_kv_string(w, key, ts);
}

static void write_store(struct json_writer *w, const struct authz_store_info *s)
{
	json_write_object_begin(w);
	json_write_kv_string(w, "id", s->id);
	json_write_kv_string(w, "name", s->name);
	write_time(w, "created_at", s->created_ns);
	write_time(w, "updated_at", s->updated_ns);
	json_write_object_end(w);
}

static void write_key(struct json_writer *w, const char *key, const struct authz_tuple_rec *r)
{
	json_write_key(w, key);
	json_write_object_begin(w);
	json_write_kv_string(w, "object", r->object);
	json_write_kv_string(w, "relation", r->relation);
	json_write_kv_string(w, "user", r->user);
	if (r->cond_name) {
		json_write_key(w, "condition");
		json_write_object_begin(w);
		json_write_kv_string(w, "name", r->cond_name);
		if (r->cond_context) {
			struct bw_arena *a = bw_arena_new(4096, AUTHZ_CONTEXT_MAX_BYTES * 8);
			struct bw_err err;
			const struct json_value *v =
				a ? json_parse(a, r->cond_context, strlen(r->cond_context), NULL, &err) : NULL;
			if (v) {
				json_write_key(w, "context");
				json_write_value(w, v);
			}
			bw_arena_free(a);
		}
		json_write_object_end(w);
	}
	json_write_object_end(w);
}

static int finish(struct job *j, struct json_writer *w, int status)
{
	if (json_writer_finish(w) < 0) {
		jerr(j, 500, "internal_error", "response too large");
		return -1;
	}
	j->status = status;
	return 0;
}

/* ------------------------------------------------------------- stores */

static int do_store_create(struct job *j)
{
	const char *name = jstr(j->body, "name");
	struct authz_store_info info;
	struct bw_err err;
	if (!name)
		return bad(j, "name is required");
	if (strcmp(name, AUTHZ_PLATFORM_STORE) == 0)
		return bad(j, "the store name '" AUTHZ_PLATFORM_STORE "' is reserved");
	if (authz_store_create(engine, j->tenant, name, &info, &err) < 0)
		return fail_err(j, &err);
	api_set_target(j->call, info.id);
	struct json_writer w;
	json_writer_init(&w, j->out);
	write_store(&w, &info);
	return finish(j, &w, 201);
}

static int do_store_list(struct job *j)
{
	size_t ps;
	if (page_size_of(j, qparam(j, "page_size"), &ps) < 0)
		return -1;
	if (!ps)
		ps = AUTHZ_PAGE_DEFAULT;
	const char *tok = qparam(j, "continuation_token");
	struct authz_store_info *v = bw_arena_alloc(j->a, (ps + 1) * sizeof(*v));
	size_t n;
	struct bw_err err;
	if (!v)
		return bad(j, "out of memory");
	if (authz_store_list(engine, j->tenant, tok, ps + 1, v, &n, &err) < 0)
		return fail_err(j, &err);
	struct json_writer w;
	json_writer_init(&w, j->out);
	json_write_object_begin(&w);
	json_write_key(&w, "stores");
	json_write_array_begin(&w);
	for (size_t i = 0; i < n && i < ps; i++)
		if (strcmp(v[i].name, AUTHZ_PLATFORM_STORE) != 0)
			write_store(&w, &v[i]);
	json_write_array_end(&w);
	json_write_kv_string(&w, "continuation_token", n > ps ? v[ps - 1].id : "");
	json_write_object_end(&w);
	return finish(j, &w, 200);
}

static int do_store_get(struct job *j)
{
	struct authz_store_info info;
	struct bw_err err;
	if (authz_store_get(engine, j->tenant, j->store_id, &info, &err) < 0)
		return fail_err(j, &err);
	struct json_writer w;
	json_writer_init(&w, j->out);
	write_store(&w, &info);
	return finish(j, &w, 200);
}

static int do_store_delete(struct job *j)
{
	struct bw_err err;
	if (authz_store_delete(engine, j->tenant, j->store_id, &err) < 0)
		return fail_err(j, &err);
	bw_buf_reset(j->out);
	j->status = 204;
	return 0;
}

/* ------------------------------------------------------------- models */

static int do_model_write(struct job *j)
{
	struct bw_err err;
	struct authz_model *m = authz_model_from_json(j->body, &err);
	if (!m)
		return fail_err(j, &err);
	char id[AUTHZ_ID_LEN + 1];
	if (authz_model_write(engine, j->tenant, j->store_id, m, id, &err) < 0)
		return fail_err(j, &err);
	char details[96];
	snprintf(details, sizeof(details), "{\"authorization_model_id\":\"%s\"}", id);
	api_set_details(j->call, details);
	struct json_writer w;
	json_writer_init(&w, j->out);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "authorization_model_id", id);
	json_write_object_end(&w);
	return finish(j, &w, 201);
}

static int do_model_get(struct job *j)
{
	struct bw_err err;
	struct json_writer w;
	json_writer_init(&w, j->out);
	json_write_object_begin(&w);
	json_write_key(&w, "authorization_model");
	if (authz_model_get_json(engine, j->tenant, j->store_id, j->model_id, &w, &err) < 0)
		return fail_err(j, &err);
	json_write_object_end(&w);
	return finish(j, &w, 200);
}

static int do_model_list(struct job *j)
{
	size_t ps;
	if (page_size_of(j, qparam(j, "page_size"), &ps) < 0)
		return -1;
	if (!ps)
		ps = AUTHZ_PAGE_DEFAULT;
	const char *tok = qparam(j, "continuation_token");
	char(*ids)[AUTHZ_ID_LEN + 1] = bw_arena_alloc(j->a, (ps + 1) * sizeof(*ids));
	size_t n;
	struct bw_err err;
	if (!ids)
		return bad(j, "out of memory");
	if (authz_model_list(engine, j->tenant, j->store_id, tok, ps + 1, ids, &n, &err) < 0)
		return fail_err(j, &err);
	struct json_writer w;
	json_writer_init(&w, j->out);
	json_write_object_begin(&w);
	json_write_key(&w, "authorization_models");
	json_write_array_begin(&w);
	for (size_t i = 0; i < n && i < ps; i++)
		if (authz_model_get_json(engine, j->tenant, j->store_id, ids[i], &w, &err) < 0)
			return fail_err(j, &err);
	json_write_array_end(&w);
	json_write_kv_string(&w, "continuation_token", n > ps ? ids[ps - 1] : "");
	json_write_object_end(&w);
	return finish(j, &w, 200);
}

/* ------------------------------------------------------------- tuples */

static int do_write(struct job *j)
{
	struct authz_write_req req = { .model_id = jstr(j->body, "authorization_model_id") };
	const struct json_value *wr = json_get(j->body, "writes");
	const struct json_value *dl = json_get(j->body, "deletes");
	struct authz_tuple *wt = NULL, *dt = NULL;
	unsigned max = authz_engine_options(engine)->write_max;
	if (wr && wr->type == JSON_OBJECT) {
		if (tuples_of(j, json_get(wr, "tuple_keys"), max, &wt, &req.nwrites) < 0)
			return -1;
		const char *od = jstr(wr, "on_duplicate");
		if (od && strcmp(od, "ignore") == 0)
			req.on_duplicate = AUTHZ_CONFLICT_IGNORE;
		else if (od && strcmp(od, "error") != 0)
			return bad(j, "on_duplicate must be \"error\" or \"ignore\"");
	} else if (wr && wr->type != JSON_NULL) {
		return bad(j, "writes must be an object");
	}
	if (dl && dl->type == JSON_OBJECT) {
		if (tuples_of(j, json_get(dl, "tuple_keys"), max, &dt, &req.ndeletes) < 0)
			return -1;
		const char *om = jstr(dl, "on_missing");
		if (om && strcmp(om, "ignore") == 0)
			req.on_missing = AUTHZ_CONFLICT_IGNORE;
		else if (om && strcmp(om, "error") != 0)
			return bad(j, "on_missing must be \"error\" or \"ignore\"");
	} else if (dl && dl->type != JSON_NULL) {
		return bad(j, "deletes must be an object");
	}
	req.writes = wt;
	req.deletes = dt;
	char details[96];
	snprintf(details, sizeof(details), "{\"writes\":%zu,\"deletes\":%zu}", req.nwrites,
		 req.ndeletes);
	api_set_details(j->call, details);
	struct bw_err err;
	if (authz_write(engine, j->tenant, j->store_id, &req, &err) < 0)
		return fail_err(j, &err);
	struct json_writer w;
	json_writer_init(&w, j->out);
	json_write_object_begin(&w);
	json_write_object_end(&w);
	return finish(j, &w, 200);
}

static int do_read(struct job *j)
{
	const struct json_value *tk = json_get(j->body, "tuple_key");
	const char *obj = NULL, *rel = NULL, *usr = NULL;
	if (tk && tk->type == JSON_OBJECT) {
		obj = jstr(tk, "object");
		rel = jstr(tk, "relation");
		usr = jstr(tk, "user");
	}
	size_t ps = 0;
	const struct json_value *p = json_get(j->body, "page_size");
	if (p && (p->type != JSON_NUMBER || !p->u.num.is_int || p->u.num.i < 1 ||
		  p->u.num.i > AUTHZ_PAGE_MAX))
		return bad(j, "page_size must be between 1 and 100");
	if (p)
		ps = (size_t)p->u.num.i;
	struct authz_tuple_rec *recs;
	size_t n;
	const char *next;
	struct bw_err err;
	if (authz_read(engine, j->tenant, j->store_id, obj, rel, usr, ps,
		       jstr(j->body, "continuation_token"), j->a, &recs, &n, &next, &err) < 0)
		return fail_err(j, &err);
	struct json_writer w;
	json_writer_init(&w, j->out);
	json_write_object_begin(&w);
	json_write_key(&w, "tuples");
	json_write_array_begin(&w);
	for (size_t i = 0; i < n; i++) {
		json_write_object_begin(&w);
		write_key(&w, "key", &recs[i]);
		write_time(&w, "timestamp", recs[i].time_ns);
		json_write_object_end(&w);
	}
	json_write_array_end(&w);
	json_write_kv_string(&w, "continuation_token", next);
	json_write_object_end(&w);
	return finish(j, &w, 200);
}

static int do_changes(struct job *j)
{
	size_t ps;
	if (page_size_of(j, qparam(j, "page_size"), &ps) < 0)
		return -1;
	struct authz_tuple_rec *recs;
	size_t n;
	const char *next;
	struct bw_err err;
	if (authz_read_changes(engine, j->tenant, j->store_id, qparam(j, "type"), ps,
			       qparam(j, "continuation_token"), j->a, &recs, &n, &next, &err) < 0)
		return fail_err(j, &err);
	struct json_writer w;
	json_writer_init(&w, j->out);
	json_write_object_begin(&w);
	json_write_key(&w, "changes");
	json_write_array_begin(&w);
	for (size_t i = 0; i < n; i++) {
		json_write_object_begin(&w);
		write_key(&w, "tuple_key", &recs[i]);
		json_write_kv_string(&w, "operation", recs[i].deleted ? "TUPLE_OPERATION_DELETE" :
									"TUPLE_OPERATION_WRITE");
		write_time(&w, "timestamp", recs[i].time_ns);
		json_write_object_end(&w);
	}
	json_write_array_end(&w);
	json_write_kv_string(&w, "continuation_token", next);
	json_write_object_end(&w);
	return finish(j, &w, 200);
}

/* ------------------------------------------------------------ queries */

static int do_check(struct job *j)
{
	struct authz_query q;
	struct authz_tuple k;
	if (query_of(j, j->body, &q) < 0 || tuple_of(j, json_get(j->body, "tuple_key"), &k) < 0)
		return -1;
	bool allowed;
	struct bw_err err;
	if (authz_check(engine, &q, k.user, k.relation, k.object, &allowed, &err) < 0)
		return fail_err(j, &err);
	struct json_writer w;
	json_writer_init(&w, j->out);
	json_write_object_begin(&w);
	json_write_kv_bool(&w, "allowed", allowed);
	json_write_kv_string(&w, "resolution", "");
	json_write_object_end(&w);
	return finish(j, &w, 200);
}

static int do_batch_check(struct job *j)
{
	const struct json_value *checks = json_get(j->body, "checks");
	unsigned max = authz_engine_options(engine)->batch_max;
	if (!checks || checks->type != JSON_ARRAY || checks->u.arr.n == 0)
		return bad(j, "checks must be a non-empty array");
	if (checks->u.arr.n > max)
		return bad(j, "too many checks in one batch");
	for (size_t i = 0; i < checks->u.arr.n; i++) {
		const struct json_value *c = checks->u.arr.items[i];
		const char *id = c->type == JSON_OBJECT ? jstr(c, "correlation_id") : NULL;
		if (!id || !*id)
			return bad(j, "every check needs a correlation_id");
		for (size_t k = 0; k < i; k++)
			if (strcmp(jstr(checks->u.arr.items[k], "correlation_id"), id) == 0)
				return bad(j, "duplicate correlation_id");
	}
	struct json_writer w;
	json_writer_init(&w, j->out);
	json_write_object_begin(&w);
	json_write_key(&w, "result");
	json_write_object_begin(&w);
	for (size_t i = 0; i < checks->u.arr.n; i++) {
		const struct json_value *c = checks->u.arr.items[i];
		json_write_key(&w, jstr(c, "correlation_id"));
		json_write_object_begin(&w);
		struct authz_query q;
		struct authz_tuple k;
		bool allowed = false;
		struct bw_err err;
		bw_err_clear(&err);
		/* per-check input errors are answered per item, as OpenFGA does */
		j->quiet = true;
		int rc = query_of(j, j->body, &q) < 0 ? -1 : 0;
		if (rc == 0) {
			/* the item's own fields override the batch's */
			const struct json_value *ct = json_get(c, "contextual_tuples");
			if (ct && ct->type == JSON_OBJECT)
				ct = json_get(ct, "tuple_keys");
			struct authz_tuple *t;
			rc = tuples_of(j, ct, AUTHZ_CONTEXTUAL_MAX, &t, &q.ncontextual);
			q.contextual = t;
			const struct json_value *ctx = json_get(c, "context");
			if (ctx && ctx->type == JSON_OBJECT)
				q.context = ctx;
			if (rc == 0)
				rc = tuple_of(j, json_get(c, "tuple_key"), &k);
		}
		j->quiet = false;
		if (rc < 0) {
			snprintf(err.msg, sizeof(err.msg), "%s", j->qmsg);
			snprintf(err.reason, sizeof(err.reason), "validation_error");
			err.code = 400;
		} else {
			rc = authz_check(engine, &q, k.user, k.relation, k.object, &allowed, &err);
		}
		json_write_kv_bool(&w, "allowed", rc == 0 && allowed);
		if (rc < 0) {
			json_write_key(&w, "error");
			json_write_object_begin(&w);
			json_write_kv_string(&w, err.code >= 500 ? "internal_error" : "input_error",
					     err.reason);
			json_write_kv_string(&w, "message", err.code >= 500 ? "internal error" : err.msg);
			json_write_object_end(&w);
		}
		json_write_object_end(&w);
	}
	json_write_object_end(&w);
	json_write_object_end(&w);
	return finish(j, &w, 200);
}

static int do_expand(struct job *j)
{
	struct authz_query q;
	struct authz_tuple k;
	if (query_of(j, j->body, &q) < 0 || tuple_of(j, json_get(j->body, "tuple_key"), &k) < 0)
		return -1;
	struct bw_err err;
	struct json_writer w;
	json_writer_init(&w, j->out);
	if (authz_expand(engine, &q, k.relation, k.object, &w, &err) < 0)
		return fail_err(j, &err);
	return finish(j, &w, 200);
}

static int do_list_objects(struct job *j)
{
	struct authz_query q;
	if (query_of(j, j->body, &q) < 0)
		return -1;
	const char **objs;
	size_t n;
	struct bw_err err;
	if (authz_list_objects(engine, &q, jstr(j->body, "type"), jstr(j->body, "relation"),
			       jstr(j->body, "user"), j->a, &objs, &n, &err) < 0)
		return fail_err(j, &err);
	struct json_writer w;
	json_writer_init(&w, j->out);
	json_write_object_begin(&w);
	json_write_key(&w, "objects");
	json_write_array_begin(&w);
	for (size_t i = 0; i < n; i++)
		json_write_string(&w, objs[i]);
	json_write_array_end(&w);
	json_write_object_end(&w);
	return finish(j, &w, 200);
}

static void write_list_user(struct json_writer *w, const char *u)
{
	const char *c = strchr(u, ':');
	const char *h = c ? strchr(c, '#') : NULL;
	json_write_object_begin(w);
	if (c && strcmp(c + 1, "*") == 0) {
		json_write_key(w, "wildcard");
		json_write_object_begin(w);
		json_write_key(w, "type");
		json_write_stringn(w, u, (size_t)(c - u));
		json_write_object_end(w);
	} else if (c) {
		json_write_key(w, h ? "userset" : "object");
		json_write_object_begin(w);
		json_write_key(w, "type");
		json_write_stringn(w, u, (size_t)(c - u));
		json_write_key(w, "id");
		json_write_stringn(w, c + 1, h ? (size_t)(h - c - 1) : strlen(c + 1));
		if (h)
			json_write_kv_string(w, "relation", h + 1);
		json_write_object_end(w);
	}
	json_write_object_end(w);
}

static int do_list_users(struct job *j)
{
	struct authz_query q;
	if (query_of(j, j->body, &q) < 0)
		return -1;
	const struct json_value *o = json_get(j->body, "object");
	const struct json_value *f = json_get(j->body, "user_filters");
	if (!o || o->type != JSON_OBJECT || !jstr(o, "type") || !jstr(o, "id"))
		return bad(j, "object must be {\"type\", \"id\"}");
	if (!f || f->type != JSON_ARRAY || f->u.arr.n != 1 || f->u.arr.items[0]->type != JSON_OBJECT)
		return bad(j, "user_filters must hold exactly one filter");
	const char *object = bw_arena_printf(j->a, "%s:%s", jstr(o, "type"), jstr(o, "id"));
	const char *ft = jstr(f->u.arr.items[0], "type");
	const char *fr = jstr(f->u.arr.items[0], "relation");
	const char **users;
	size_t n;
	struct bw_err err;
	if (!object)
		return bad(j, "out of memory");
	if (authz_list_users(engine, &q, object, jstr(j->body, "relation"), ft, fr, j->a, &users,
			     &n, &err) < 0)
		return fail_err(j, &err);
	struct json_writer w;
	json_writer_init(&w, j->out);
	json_write_object_begin(&w);
	json_write_key(&w, "users");
	json_write_array_begin(&w);
	for (size_t i = 0; i < n; i++)
		write_list_user(&w, users[i]);
	json_write_array_end(&w);
	json_write_object_end(&w);
	return finish(j, &w, 200);
}

/* ------------------------------------------------------------- routes */

/* ------------------------------------------- platform roles, route list */

/*
 * bulwark's own roles, granted and revoked through these routes only (the
 * platform store is invisible to the generic API). The tenant in the path
 * must be the caller's own, or any tenant for a caller of the platform
 * tenant (operators), as the identity routes do. Granting or revoking
 * platform-admin additionally needs platform-admin: a platform tenant-admin
 * holds authz.role.assign but must not mint the role above its own.
 */

/* The path's {tenant} when the caller may act in it; NULL with 403 set. */
static const char *role_tenant(struct job *j)
{
	const char *t = api_param(j->call, "tenant");
	if (!t || !j->tenant ||
	    (strcmp(t, j->tenant) != 0 && strcmp(j->tenant, AUTHZ_PLATFORM_TENANT) != 0)) {
		jerr_reason(j, 403, "forbidden", "not your tenant", "forbidden");
		return NULL;
	}
	return t;
}

/* May the caller change platform-admin grants? Only platform-admin. */
static bool caller_is_platform_admin(struct job *j)
{
	const char *actor = api_actor(j->call);
	char subject[AUTHZ_SUBJECT_MAX + 8];
	return actor && strcmp(j->tenant, AUTHZ_PLATFORM_TENANT) == 0 &&
	       bw_snprintf(subject, sizeof(subject), "user:%s", actor) >= 0 &&
	       authz_platform_check(engine, AUTHZ_PLATFORM_TENANT, subject,
				    "platform.tenant.manage");
}

static int role_change(struct job *j, bool grant)
{
	const char *tenant = role_tenant(j);
	if (!tenant)
		return -1;
	const char *role = api_param(j->call, "role");
	const char *raw = api_param(j->call, "subject");
	char *subject = raw ? bw_arena_alloc(j->a, AUTHZ_SUBJECT_MAX + 1) : NULL;
	if (!subject || authz_subject_decode(raw, strlen(raw), subject, AUTHZ_SUBJECT_MAX + 1) < 0)
		return bad(j, "the subject must be user:ID, apikey:ID or group:ID#member");
	char target[AUTHZ_SUBJECT_MAX + AUTHZ_OBJECT_MAX + 80];
	bw_snprintf(target, sizeof(target), "tenant:%s#%s@%s", tenant, role ? role : "", subject);
	api_set_target(j->call, target);
	if (role && strcmp(role, "platform-admin") == 0 && !caller_is_platform_admin(j)) {
		jerr_reason(j, 403, "forbidden", "only platform-admin grants platform-admin",
			    "forbidden");
		return -1;
	}
	struct bw_err err;
	/* A tenant's platform store is made on its first grant. */
	if (grant && !authz_platform_has_store(engine, tenant) &&
	    authz_platform_init(engine, tenant, &err) < 0)
		return fail_err(j, &err);
	if (authz_platform_assign(engine, tenant, subject, role, grant, &err) < 0) {
		if (!grant && strcmp(err.reason, "store_not_found") == 0)
			return 0; /* nothing was granted in that tenant: nothing to revoke */
		return fail_err(j, &err);
	}
	struct json_writer w;
	json_writer_init(&w, j->out);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "tenant", tenant);
	json_write_kv_string(&w, "role", role);
	json_write_kv_string(&w, "subject", subject);
	json_write_kv_bool(&w, "granted", grant);
	json_write_object_end(&w);
	return finish(j, &w, 200);
}

static int do_role_grant(struct job *j)
{
	return role_change(j, true);
}

static int do_role_revoke(struct job *j)
{
	return role_change(j, false);
}

static int write_assignment(void *arg, const char *role, const char *subject)
{
	struct json_writer *w = arg;
	json_write_object_begin(w);
	json_write_kv_string(w, "role", role);
	json_write_kv_string(w, "subject", subject);
	json_write_object_end(w);
	return 0;
}

static int do_role_list(struct job *j)
{
	const char *tenant = role_tenant(j);
	if (!tenant)
		return -1;
	struct json_writer w;
	json_writer_init(&w, j->out);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "tenant", tenant);
	json_write_key(&w, "assignments");
	json_write_array_begin(&w);
	struct bw_err err;
	if (authz_platform_assignments(engine, tenant, AUTHZ_ROLE_LIST_MAX, write_assignment, &w,
				       &err) < 0)
		return fail_err(j, &err);
	json_write_array_end(&w);
	json_write_object_end(&w);
	return finish(j, &w, 200);
}

struct roles_out {
	struct json_writer *w;
	const char *open; /* the role whose object is open */
};

static int write_grant(void *arg, const char *role, const char *perm)
{
	struct roles_out *o = arg;
	if (o->open != role) {
		if (o->open) {
			json_write_array_end(o->w);
			json_write_object_end(o->w);
		}
		json_write_object_begin(o->w);
		json_write_kv_string(o->w, "name", role);
		json_write_key(o->w, "permissions");
		json_write_array_begin(o->w);
		o->open = role;
	}
	json_write_string(o->w, perm);
	return 0;
}

/* The 18 roles and the permissions each holds, from the built-in model. */
static int do_roles(struct job *j)
{
	struct json_writer w;
	json_writer_init(&w, j->out);
	json_write_object_begin(&w);
	json_write_key(&w, "roles");
	json_write_array_begin(&w);
	struct roles_out o = { .w = &w };
	if (authz_platform_grants(write_grant, &o) < 0) {
		jerr(j, 500, "internal_error", "the platform model cannot be read");
		return -1;
	}
	if (o.open) {
		json_write_array_end(&w);
		json_write_object_end(&w);
	}
	json_write_array_end(&w);
	json_write_object_end(&w);
	return finish(j, &w, 200);
}

static int write_route(const struct api_route *r, void *arg)
{
	struct json_writer *w = arg;
	json_write_object_begin(w);
	json_write_kv_string(w, "method", http_method_name(r->method));
	json_write_kv_string(w, "path", r->path);
	json_write_kv_string(w, "permission", r->permission);
	json_write_kv_bool(w, "mutating", r->mutating);
	if (r->action)
		json_write_kv_string(w, "action", r->action);
	json_write_object_end(w);
	return 0;
}

/* Every registered admin route with the permission it declares: what the
 * generated authorization matrix test enumerates. Not secret (it is the
 * documentation of the API), but only for authenticated callers. */
static int do_routes(struct job *j)
{
	struct json_writer w;
	json_writer_init(&w, j->out);
	json_write_object_begin(&w);
	json_write_key(&w, "routes");
	json_write_array_begin(&w);
	(void)api_routes_foreach(write_route, &w);
	json_write_array_end(&w);
	json_write_object_end(&w);
	return finish(j, &w, 200);
}

static void r_routes(struct api_call *c) { start(c, do_routes, false, false); }
static void r_roles(struct api_call *c) { start(c, do_roles, false, false); }
static void r_role_list(struct api_call *c) { start(c, do_role_list, false, false); }
static void r_role_grant(struct api_call *c) { start(c, do_role_grant, true, false); }
static void r_role_revoke(struct api_call *c) { start(c, do_role_revoke, true, false); }

#define RT "/api/v1/authz/tenants/{tenant}"
static const struct api_route role_routes[] = {
	{ HTTP_METHOD_GET, "/api/v1/authz/routes", "platform.system.read", NULL, false, r_routes },
	{ HTTP_METHOD_GET, "/api/v1/authz/roles", "platform.system.read", NULL, false, r_roles },
	{ HTTP_METHOD_GET, RT "/role-assignments", "authz.role.read", NULL, false, r_role_list },
	{ HTTP_METHOD_PUT, RT "/roles/{role}/members/{subject}", "authz.role.assign",
	  "authz.role.grant", true, r_role_grant },
	{ HTTP_METHOD_DELETE, RT "/roles/{role}/members/{subject}", "authz.role.assign",
	  "authz.role.revoke", true, r_role_revoke },
};
#undef RT

static void r_store_create(struct api_call *c) { start(c, do_store_create, true, true); }
static void r_store_list(struct api_call *c) { start(c, do_store_list, false, false); }
static void r_store_get(struct api_call *c) { start(c, do_store_get, false, false); }
static void r_store_delete(struct api_call *c) { start(c, do_store_delete, true, false); }
static void r_model_write(struct api_call *c) { start(c, do_model_write, true, true); }
static void r_model_list(struct api_call *c) { start(c, do_model_list, false, false); }
static void r_model_get(struct api_call *c) { start(c, do_model_get, false, false); }
static void r_write(struct api_call *c) { start(c, do_write, true, true); }
static void r_read(struct api_call *c) { start(c, do_read, false, true); }
static void r_changes(struct api_call *c) { start(c, do_changes, false, false); }
static void r_check(struct api_call *c) { start(c, do_check, false, true); }
static void r_batch(struct api_call *c) { start(c, do_batch_check, false, true); }
static void r_expand(struct api_call *c) { start(c, do_expand, false, true); }
static void r_list_objects(struct api_call *c) { start(c, do_list_objects, false, true); }
static void r_list_users(struct api_call *c) { start(c, do_list_users, false, true); }

#define ROUTES(P)                                                                              \
	{ HTTP_METHOD_POST, P "/stores", "authz.store.manage", "authz.store.create", true,      \
	  r_store_create },                                                                   \
	{ HTTP_METHOD_GET, P "/stores", "authz.store.read", NULL, false, r_store_list },         \
	{ HTTP_METHOD_GET, P "/stores/{store_id}", "authz.store.read", NULL, false, r_store_get }, \
	{ HTTP_METHOD_DELETE, P "/stores/{store_id}", "authz.store.manage", "authz.store.delete", \
	  true, r_store_delete },                                                             \
	{ HTTP_METHOD_POST, P "/stores/{store_id}/authorization-models", "authz.model.write",   \
	  "authz.model.write", true, r_model_write },                                         \
	{ HTTP_METHOD_GET, P "/stores/{store_id}/authorization-models", "authz.store.read", NULL, \
	  false, r_model_list },                                                              \
	{ HTTP_METHOD_GET, P "/stores/{store_id}/authorization-models/{id}", "authz.store.read",  \
	  NULL, false, r_model_get },                                                         \
	{ HTTP_METHOD_POST, P "/stores/{store_id}/write", "authz.tuple.write", "authz.tuple.write", \
	  true, r_write },                                                                    \
	{ HTTP_METHOD_POST, P "/stores/{store_id}/read", "authz.tuple.read", NULL, false, r_read }, \
	{ HTTP_METHOD_GET, P "/stores/{store_id}/changes", "authz.tuple.read", NULL, false,     \
	  r_changes },                                                                        \
	{ HTTP_METHOD_POST, P "/stores/{store_id}/check", "authz.query", NULL, false, r_check }, \
	{ HTTP_METHOD_POST, P "/stores/{store_id}/batch-check", "authz.query", NULL, false,     \
	  r_batch },                                                                          \
	{ HTTP_METHOD_POST, P "/stores/{store_id}/expand", "authz.query", NULL, false, r_expand }, \
	{ HTTP_METHOD_POST, P "/stores/{store_id}/list-objects", "authz.query", NULL, false,    \
	  r_list_objects },                                                                   \
	{ HTTP_METHOD_POST, P "/stores/{store_id}/list-users", "authz.query", NULL, false,      \
	  r_list_users }

static const struct api_route routes[] = { ROUTES(""), ROUTES("/api/v1/fga") };

int authz_api_register(struct authz_engine *e)
{
	if (!e)
		return -1;
	engine = e;
	if (api_register(role_routes, BW_ARRAY_LEN(role_routes)) < 0)
		return -1;
	return api_register(routes, BW_ARRAY_LEN(routes));
}
