/*
 * siem_api.c — the SIEM's REST routes under /api/v1/siem: event search
 * and aggregations, rules (list, load, delete, enable, disable), alerts
 * (list, acknowledge), cases (siem_case.c), the compliance report
 * (siem_report.c), ingest source keys, counters and a retention run.
 *
 * Every handler reads its parameters and body on the loop thread, does
 * its work on the thread pool (searches scan, writes wait for the disk),
 * and answers on the loop. State-changing routes are audited
 * (api_reply_audited): the audit record is durable before the answer.
 * Query strings are percent-decoded into the job's arena with bounds.
 *
 * Permissions are the platform model's (src/authz/platform.fga):
 * siem.event.read, siem.alert.read/manage, siem.rule.manage,
 * siem.source.manage, ir.case.read/manage, compliance.report.read.
 *
 * Tenancy: the SIEM's shared state (rules, sources, retention, cases,
 * single events by id, alert handling, statistics) is operated from the
 * platform tenant. Callers of another tenant may only search, aggregate,
 * list alerts and run reports, always confined to their own tenant
 * (?tenant= naming another is refused). Platform callers see every tenant
 * unless ?tenant= narrows it. The caller's tenant is recorded on what it
 * creates.
 */
#include "siem/siem_svc_int.h"
#include "api/api.h"

#include <stdio.h>
#include <stdlib.h>

static struct siem_service *S; /* set by siem_api_register */

/* Sends api_out() with the given content type (reports). api.c does not
 * offer it yet: until it does, reports go out wrapped in JSON. */
void api_reply_typed(struct api_call *call, int status, const char *content_type)
	__attribute__((weak));

/* ------------------------------------------------------------------ jobs */

struct sjob;
typedef void (*sjob_fn)(struct sjob *j);

struct sjob {
	struct api_call *call;
	struct bw_arena *a;
	sjob_fn fn;
	bool mutating;
	const struct json_value *body;
	struct bw_str query;
	const char *p_id, *p_key; /* path parameters */
	const char *actor, *tenant;
	int status;
	const char *ecode, *emsg;
	struct bw_buf *out;
	const char *ctype; /* non-JSON output (reports) */
};

static void sjob_fail(struct sjob *j, int status, const char *code, const char *msg)
{
	j->status = status;
	j->ecode = bw_arena_strdup(j->a, code);
	j->emsg = msg ? bw_arena_strdup(j->a, msg) : "";
	if (!j->ecode || !j->emsg) {
		j->ecode = "internal";
		j->emsg = "";
	}
}

static void sjob_fail_err(struct sjob *j, const struct bw_err *err)
{
	int st = err->code >= 400 && err->code < 600 ? err->code : 500;
	sjob_fail(j, st, err->reason[0] ? err->reason : "internal", err->msg);
}

static void sjob_work(void *arg)
{
	struct sjob *j = arg;
	j->fn(j);
}

static void sjob_done(void *arg)
{
	struct sjob *j = arg;
	struct api_call *call = j->call;
	int status = j->status;
	bool mutating = j->mutating;
	if (j->ecode) {
		api_fail(call, status, j->ecode, j->emsg);
	} else if (j->ctype) {
		/* a report (CSV or HTML) */
		struct net_exchange *x = api_exchange(call);
		net_add_header(x, "Cache-Control", "no-store");
		if (strstr(j->ctype, "csv"))
			net_add_header(x, "Content-Disposition",
				       "attachment; filename=\"bulwark-access-report.csv\"");
		else
			net_add_header(x, "Content-Security-Policy",
				       "default-src 'none'; style-src 'unsafe-inline'");
		if (api_reply_typed) {
			api_reply_typed(call, status, j->ctype);
		} else {
			/* until api.c offers typed replies: the document wrapped
			 * in JSON ({"content_type":..., "content":...}) */
			struct bw_buf *o = api_out(call);
			struct bw_buf wrapped;
			bw_buf_init(&wrapped, o->max + 1024);
			struct json_writer w;
			json_writer_init(&w, &wrapped);
			json_write_object_begin(&w);
			json_write_kv_string(&w, "content_type", j->ctype);
			json_write_key(&w, "content");
			json_write_stringn(&w, o->data ? o->data : "", o->len);
			json_write_object_end(&w);
			bw_buf_reset(o);
			if (json_writer_finish(&w) < 0 ||
			    bw_buf_append(o, wrapped.data, wrapped.len) < 0)
				bw_buf_reset(o);
			bw_buf_fini(&wrapped);
			api_reply(call, status);
		}
	} else if (mutating) {
		api_reply_audited(call, status, AUDIT_OUTCOME_SUCCESS);
	} else {
		api_reply(call, status);
	}
	bw_arena_free(j->a);
	free(j);
}

static void start(struct api_call *call, sjob_fn fn, bool mutating, bool body)
{
	struct sjob *j = calloc(1, sizeof(*j));
	struct bw_arena *a = j ? bw_arena_new(16384, 64u << 20) : NULL;
	if (!a) {
		free(j);
		api_fail(call, 503, "overloaded", "out of memory");
		return;
	}
	j->call = call;
	j->a = a;
	j->fn = fn;
	j->mutating = mutating;
	j->status = 200;
	j->out = api_out(call);
	j->actor = api_actor(call);
	j->tenant = api_tenant(call);
	j->p_id = api_param(call, "id");
	j->p_key = api_param(call, "key");
	const struct http_request *r = net_request(api_exchange(call));
	if (r->has_query)
		j->query = bw_str_make(bw_arena_strndup(a, r->query.p, r->query.len),
				       r->query.len);
	if (j->p_id)
		api_set_target(call, j->p_id);
	else if (j->p_key)
		api_set_target(call, j->p_key);
	if (body) {
		struct bw_err err;
		j->body = api_body_json(call, &err);
		if (!j->body || j->body->type != JSON_OBJECT) {
			sjob_fail(j, 400, "bad_request",
				  j->body ? "the body must be a JSON object" : err.msg);
			sjob_done(j);
			return;
		}
	}
	struct tpool *pool = api_context(call)->pool;
	if (!pool) {
		sjob_work(j);
		sjob_done(j);
		return;
	}
	if (tpool_submit(pool, sjob_work, sjob_done, j, api_loop(call)) < 0) {
		sjob_fail(j, 503, "overloaded", "the server is busy");
		sjob_done(j);
	}
}

/* --------------------------------------------------------------- params */

/* Percent-decodes [p, end) into the arena ('+' is a space). NULL on a bad
 * escape or a NUL byte. */
static char *pdecode(struct bw_arena *a, const char *p, const char *end)
{
	char *out = bw_arena_alloc(a, (size_t)(end - p) + 1);
	size_t n = 0;
	if (!out)
		return NULL;
	for (; p < end; p++) {
		char c = *p;
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			if (end - p < 3 || bw_hex_digit(p[1]) < 0 || bw_hex_digit(p[2]) < 0)
				return NULL;
			c = (char)(bw_hex_digit(p[1]) * 16 + bw_hex_digit(p[2]));
			if (c == '\0')
				return NULL;
			p += 2;
		}
		out[n++] = c;
	}
	out[n] = '\0';
	return out;
}

/* Calls fn for each name=value of the query string (decoded). */
static int each_param(struct sjob *j, int (*fn)(struct sjob *, const char *, const char *, void *),
		      void *arg)
{
	const char *p = j->query.p, *end = p ? p + j->query.len : NULL;
	int count = 0;
	while (p && p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(stop - p));
		if (++count > 64)
			return -1;
		char *k = pdecode(j->a, p, eq ? eq : stop);
		char *v = eq ? pdecode(j->a, eq + 1, stop) : bw_arena_strdup(j->a, "");
		if (!k || !v)
			return -1;
		if (fn(j, k, v, arg) < 0)
			return -1;
		p = stop + (amp ? 1 : 0);
	}
	return 0;
}

struct find_arg {
	const char *name;
	const char *value;
};

static int find_cb(struct sjob *j, const char *k, const char *v, void *arg)
{
	struct find_arg *f = arg;
	if (!f->value && strcmp(k, f->name) == 0)
		f->value = v;
	return 0;
}

static const char *qparam(struct sjob *j, const char *name)
{
	struct find_arg f = { name, NULL };
	if (each_param(j, find_cb, &f) < 0)
		return NULL;
	return f.value;
}

/* Time: RFC 3339, epoch milliseconds, "now", or now minus a duration
 * ("-15m", "now-2h"). */
static int parse_time(const char *s, int64_t now, int64_t *out)
{
	if (strcmp(s, "now") == 0) {
		*out = now;
		return 0;
	}
	const char *rel = NULL;
	if (s[0] == '-')
		rel = s + 1;
	else if (strncmp(s, "now-", 4) == 0)
		rel = s + 4;
	if (rel) {
		uint64_t ms;
		if (conf_parse_duration(rel, strlen(rel), &ms) < 0 || ms > 3660ULL * 86400000ULL)
			return -1;
		*out = now - (int64_t)ms * 1000000LL;
		return 0;
	}
	uint64_t ms;
	if (bw_str_to_u64(bw_str_make(s, strlen(s)), &ms) == 0) {
		if (ms > 253402300799999ULL)
			return -1;
		*out = (int64_t)ms * 1000000LL;
		return 0;
	}
	return siem_time_parse_rfc3339(s, strlen(s), out);
}

static const char *const reserved[] = { "q",	  "from",  "to",     "limit", "offset",
					"tenant", "field", "interval", "top", "format",
					"status", NULL };

static bool is_reserved(const char *k)
{
	for (size_t i = 0; reserved[i]; i++)
		if (strcmp(reserved[i], k) == 0)
			return true;
	return false;
}

static int filter_cb(struct sjob *j, const char *k, const char *v, void *arg)
{
	struct siem_query *q = arg;
	if (is_reserved(k))
		return 0;
	struct bw_err err;
	return siem_query_add_filter(q, k, v, &err);
}

/* Builds the query and scan options from ?q=&from=&to=&tenant=&f=v. */
static bool query_from_params(struct sjob *j, struct siem_query *q,
			      struct siem_scan_opts *o, int64_t default_span_ns)
{
	struct bw_err err;
	memset(q, 0, sizeof(*q));
	memset(o, 0, sizeof(*o));
	int64_t now = bw_clock_now_ns();
	o->to_ns = now;
	const char *s;
	if ((s = qparam(j, "to")) && parse_time(s, now, &o->to_ns) < 0) {
		sjob_fail(j, 400, "bad_time", "to: RFC 3339, epoch ms, now or -DURATION");
		return false;
	}
	o->from_ns = o->to_ns - default_span_ns;
	if ((s = qparam(j, "from")) && parse_time(s, now, &o->from_ns) < 0) {
		sjob_fail(j, 400, "bad_time", "from: RFC 3339, epoch ms, now or -DURATION");
		return false;
	}
	if (o->from_ns > o->to_ns) {
		sjob_fail(j, 400, "bad_time", "from is after to");
		return false;
	}
	if ((s = qparam(j, "q")) && siem_query_parse(q, s, strlen(s), &err) < 0) {
		sjob_fail_err(j, &err);
		return false;
	}
	if (each_param(j, filter_cb, q) < 0) {
		sjob_fail(j, 400, "bad_query", "bad parameter or too many filters");
		return false;
	}
	o->tenant = qparam(j, "tenant");
	if (!j->tenant || strcmp(j->tenant, "platform") != 0) {
		if (o->tenant && (!j->tenant || strcmp(o->tenant, j->tenant) != 0)) {
			sjob_fail(j, 403, "forbidden", "another tenant's events are not yours to read");
			return false;
		}
		o->tenant = j->tenant ? j->tenant : "";
	}
	struct siem_gen *g = siem_gen_get(S);
	o->max_scan = g->conf.search_scan;
	siem_gen_unref(g);
	return true;
}

static bool uint_param(struct sjob *j, const char *name, uint64_t def, uint64_t max,
		       uint64_t *out)
{
	const char *s = qparam(j, name);
	*out = def;
	if (!s)
		return true;
	if (bw_str_to_u64(bw_str_make(s, strlen(s)), out) < 0 || *out > max) {
		char m[96];
		snprintf(m, sizeof(m), "%s: an integer up to %llu", name, (unsigned long long)max);
		sjob_fail(j, 400, "bad_parameter", m);
		return false;
	}
	return true;
}

static void write_time(struct json_writer *w, const char *key, int64_t ns)
{
	char t[32];
	bw_time_format(ns, t);
	json_write_kv_string(w, key, t);
}

/* --------------------------------------------------------------- events */

static void do_search(struct sjob *j)
{
	struct siem_query *q = bw_arena_zalloc(j->a, sizeof(*q));
	struct siem_scan_opts o;
	uint64_t limit, offset;
	if (!q) {
		sjob_fail(j, 503, "overloaded", "out of memory");
		return;
	}
	if (!query_from_params(j, q, &o, 24LL * 3600 * 1000000000LL) ||
	    !uint_param(j, "limit", SIEM_SEARCH_PAGE_DEFAULT, SIEM_SEARCH_PAGE_MAX, &limit) ||
	    !uint_param(j, "offset", 0, SIEM_SEARCH_OFFSET_MAX, &offset))
		return;
	if (limit == 0)
		limit = 1;
	struct siem_search_result res;
	struct bw_err err;
	if (siem_search(S, q, &o, offset, limit, &res, &err) < 0) {
		sjob_fail_err(j, &err);
		return;
	}
	struct json_writer w;
	json_writer_init(&w, j->out);
	json_write_object_begin(&w);
	json_write_key(&w, "events");
	json_write_array_begin(&w);
	for (size_t i = 0; i < res.n; i++) {
		json_write_object_begin(&w);
		json_write_kv_int(&w, "id", res.hits[i].id);
		write_time(&w, "@timestamp", res.hits[i].ts);
		/* the stored document is JSON we wrote: re-parse to embed it
		 * (never splice text into the response) */
		struct bw_err perr;
		struct json_value *v = json_parse(j->a, res.hits[i].doc, res.hits[i].doc_len,
						  NULL, &perr);
		json_write_key(&w, "event");
		if (v)
			json_write_value(&w, v);
		else
			json_write_null(&w);
		json_write_object_end(&w);
	}
	json_write_array_end(&w);
	json_write_kv_bool(&w, "more", res.more);
	json_write_kv_int(&w, "offset", (int64_t)offset);
	json_write_key(&w, "stats");
	json_write_object_begin(&w);
	json_write_kv_int(&w, "scanned", (int64_t)res.stats.scanned);
	json_write_kv_int(&w, "partitions", (int64_t)res.stats.partitions);
	json_write_kv_int(&w, "blocks", (int64_t)res.stats.blocks);
	json_write_kv_int(&w, "blocks_skipped", (int64_t)res.stats.blocks_skipped);
	json_write_kv_bool(&w, "truncated", res.stats.truncated);
	json_write_object_end(&w);
	json_write_object_end(&w);
	siem_search_result_free(&res);
	if (json_writer_finish(&w) < 0)
		sjob_fail(j, 500, "too_large", "response too large; lower limit");
}

static void do_event_get(struct sjob *j)
{
	uint64_t id;
	if (!j->p_id || bw_str_to_u64(bw_str_make(j->p_id, strlen(j->p_id)), &id) < 0) {
		sjob_fail(j, 400, "bad_id", "event ids are integers");
		return;
	}
	struct bw_buf doc;
	bw_buf_init(&doc, SIEM_LINE_MAX_HARD * 4);
	int64_t ts = 0;
	struct bw_err err;
	int r = siem_event_doc(S, (int64_t)id, 0, &doc, &ts, &err);
	if (r <= 0) {
		bw_buf_fini(&doc);
		if (r < 0)
			sjob_fail_err(j, &err);
		else
			sjob_fail(j, 404, "not_found", "no such event");
		return;
	}
	struct json_value *v = json_parse(j->a, doc.data, doc.len, NULL, &err);
	struct json_writer w;
	json_writer_init(&w, j->out);
	json_write_object_begin(&w);
	json_write_kv_int(&w, "id", (int64_t)id);
	write_time(&w, "@timestamp", ts);
	json_write_key(&w, "event");
	if (v)
		json_write_value(&w, v);
	else
		json_write_null(&w);
	json_write_object_end(&w);
	bw_buf_fini(&doc);
	if (json_writer_finish(&w) < 0)
		sjob_fail(j, 500, "too_large", "response too large");
}

static void do_aggregate(struct sjob *j)
{
	struct siem_query *q = bw_arena_zalloc(j->a, sizeof(*q));
	struct siem_scan_opts o;
	if (!q) {
		sjob_fail(j, 503, "overloaded", "out of memory");
		return;
	}
	if (!query_from_params(j, q, &o, 24LL * 3600 * 1000000000LL))
		return;
	uint64_t interval_ms = 3600000, top;
	const char *iv = qparam(j, "interval");
	if (iv && (conf_parse_duration(iv, strlen(iv), &interval_ms) < 0 || interval_ms < 1000)) {
		sjob_fail(j, 400, "bad_interval", "interval: a duration of at least 1s");
		return;
	}
	if (!uint_param(j, "top", 10, SIEM_AGG_VALUES_MAX, &top))
		return;
	/* buckets align to the interval */
	int64_t ivn = (int64_t)interval_ms * 1000000LL;
	o.from_ns -= o.from_ns % ivn;
	struct json_writer w;
	json_writer_init(&w, j->out);
	struct bw_err err;
	if (siem_aggregate(S, q, &o, qparam(j, "field"), ivn, (size_t)top, &w, &err) < 0) {
		bw_buf_reset(j->out);
		sjob_fail_err(j, &err);
		return;
	}
	if (json_writer_finish(&w) < 0)
		sjob_fail(j, 500, "too_large", "response too large; use a longer interval");
}

/* ---------------------------------------------------------------- rules */

static void do_rules_list(struct sjob *j)
{
	struct siem_gen *g = siem_gen_get(S);
	struct json_writer w;
	json_writer_init(&w, j->out);
	json_write_object_begin(&w);
	json_write_kv_int(&w, "generation", (int64_t)g->id);
	json_write_key(&w, "rules");
	json_write_array_begin(&w);
	size_t n = siem_ruleset_count(g->rs);
	for (size_t i = 0; i < n; i++) {
		const struct siem_rule_info *in = siem_ruleset_info(g->rs, i);
		json_write_object_begin(&w);
		json_write_kv_string(&w, "key", g->rule_keys[i]);
		json_write_kv_string(&w, "title", in->title);
		if (in->id)
			json_write_kv_string(&w, "id", in->id);
		if (in->name)
			json_write_kv_string(&w, "name", in->name);
		json_write_kv_string(&w, "kind", in->kind == SIEM_RULE_CORRELATION ?
							 "correlation" :
							 "detection");
		json_write_kv_string(&w, "level", siem_level_name(in->level));
		json_write_kv_string(&w, "file", in->file ? in->file : "");
		json_write_kv_int(&w, "line", in->line);
		json_write_kv_bool(&w, "generates_alerts", in->generate);
		json_write_kv_bool(&w, "enabled", !atomic_load(&g->disabled[i]));
		json_write_object_end(&w);
	}
	json_write_array_end(&w);
	json_write_object_end(&w);
	siem_gen_unref(g);
	if (json_writer_finish(&w) < 0)
		sjob_fail(j, 500, "too_large", "response too large");
}

struct rule_job {
	const char *name, *text, *actor, *key;
	bool del, enable;
	int64_t now;
};

static int rule_src_job(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct rule_job *r = arg;
	if (r->del) {
		struct store_value v[] = { store_text_str(r->name) };
		if (store_tx_exec(tx, "DELETE FROM siem_rule_src WHERE name = ?", v, 1, err) < 0)
			return -1;
		if (store_tx_changes(tx) != 1)
			return SIEM_SVC_ERR(err, 404, "not_found", "no rule stored under that name");
		return 0;
	}
	struct store_value v[] = { store_text_str(r->name), store_text_str(r->text),
				   store_int(r->now), store_text_str(r->actor) };
	return store_tx_exec(tx,
			     "INSERT INTO siem_rule_src (name, text, updated, updated_by)"
			     " VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
			     " text = excluded.text, updated = excluded.updated,"
			     " updated_by = excluded.updated_by",
			     v, 4, err);
}

static int rule_state_job(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct rule_job *r = arg;
	struct store_value v[] = { store_text_str(r->key), store_bool(r->enable),
				   store_int(r->now) };
	return store_tx_exec(tx,
			     "INSERT INTO siem_rule_state (rule_key, enabled, updated)"
			     " VALUES (?, ?, ?) ON CONFLICT (rule_key) DO UPDATE SET"
			     " enabled = excluded.enabled, updated = excluded.updated",
			     v, 3, err);
}

static bool rule_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!siem_isalnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

static void do_rule_load(struct sjob *j)
{
	const char *name = json_get_str(j->body, "name", NULL);
	const char *text = json_get_str(j->body, "yaml", NULL);
	if (!name || !rule_name_ok(name) || !text || strlen(text) > SIEM_RULE_FILE_MAX) {
		sjob_fail(j, 400, "bad_request",
			  "name ([A-Za-z0-9._-], 1-128) and yaml (the Sigma rule text) are required");
		return;
	}
	api_set_target(j->call, name);
	/* check it alone first, for a message that names the rule */
	struct siem_ruleset *rs = siem_ruleset_new();
	struct bw_err err;
	char nm[160];
	snprintf(nm, sizeof(nm), "api:%s", name);
	if (!rs || siem_ruleset_add_string(rs, nm, text, strlen(text), &err) < 0) {
		siem_ruleset_free(rs);
		sjob_fail(j, 400, "bad_rule", rs ? err.msg : "out of memory");
		return;
	}
	siem_ruleset_free(rs);
	struct rule_job r = { .name = name, .text = text, .actor = j->actor,
			      .now = bw_clock_now_s() };
	if (store_write(S->st, rule_src_job, &r, &err) < 0 ||
	    siem_service_rebuild(S, &err) < 0) {
		/* a rule that breaks the whole set (an unknown correlation
		 * reference...) is taken out again */
		struct rule_job d = { .name = name, .del = true };
		struct bw_err e2;
		if (store_write(S->st, rule_src_job, &d, &e2) < 0)
			log_warnx("siem: could not withdraw rule %s: %s", name, e2.msg);
		sjob_fail(j, 400, "bad_rule", err.msg);
		return;
	}
	j->status = 201;
	struct json_writer w;
	json_writer_init(&w, j->out);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "name", name);
	struct siem_gen *g = siem_gen_get(S);
	json_write_kv_int(&w, "generation", (int64_t)g->id);
	json_write_kv_int(&w, "rules", (int64_t)siem_ruleset_count(g->rs));
	siem_gen_unref(g);
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0)
		sjob_fail(j, 500, "internal", "response");
}

static void do_rule_delete(struct sjob *j)
{
	struct rule_job r = { .name = j->p_key, .del = true };
	struct bw_err err;
	if (store_write(S->st, rule_src_job, &r, &err) < 0 || siem_service_rebuild(S, &err) < 0) {
		sjob_fail_err(j, &err);
		return;
	}
	j->status = 204;
}

static void rule_enable(struct sjob *j, bool on)
{
	struct siem_gen *g = siem_gen_get(S);
	size_t n = siem_ruleset_count(g->rs), hit = 0;
	for (size_t i = 0; i < n; i++) {
		const struct siem_rule_info *in = siem_ruleset_info(g->rs, i);
		if (strcmp(g->rule_keys[i], j->p_key) == 0 ||
		    (in->name && strcmp(in->name, j->p_key) == 0))
			hit++;
	}
	if (!hit) {
		siem_gen_unref(g);
		sjob_fail(j, 404, "not_found", "no rule with that key");
		return;
	}
	struct rule_job r = { .key = j->p_key, .enable = on, .now = bw_clock_now_s() };
	struct bw_err err;
	if (store_write(S->st, rule_state_job, &r, &err) < 0) {
		siem_gen_unref(g);
		sjob_fail_err(j, &err);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct siem_rule_info *in = siem_ruleset_info(g->rs, i);
		if (strcmp(g->rule_keys[i], j->p_key) == 0 ||
		    (in->name && strcmp(in->name, j->p_key) == 0))
			atomic_store(&g->disabled[i], on ? 0 : 1);
	}
	siem_gen_unref(g);
	struct json_writer w;
	json_writer_init(&w, j->out);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "key", j->p_key);
	json_write_kv_bool(&w, "enabled", on);
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0)
		sjob_fail(j, 500, "internal", "response");
}

static void do_rule_enable(struct sjob *j)
{
	rule_enable(j, true);
}

static void do_rule_disable(struct sjob *j)
{
	rule_enable(j, false);
}

/* --------------------------------------------------------------- alerts */

struct alert_list {
	struct json_writer *w;
	struct bw_arena *a;
};

static int alert_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct alert_list *l = arg;
	struct json_writer *w = l->w;
	json_write_object_begin(w);
	json_write_kv_int(w, "id", store_row_int64(row, 0));
	write_time(w, "@timestamp", store_row_int64(row, 1));
	write_time(w, "first_seen", store_row_int64(row, 2));
	write_time(w, "last_seen", store_row_int64(row, 3));
	static const char *const tk[] = { "rule", "title", "kind", "level" };
	for (int i = 0; i < 4; i++) {
		struct bw_str s = store_row_text(row, 4 + i);
		json_write_key(w, tk[i]);
		json_write_stringn(w, s.p, s.len);
	}
	json_write_kv_int(w, "severity", store_row_int64(row, 8));
	static const char *const sk[] = { "tenant", "group", "status", "acked_by" };
	static const int sc[] = { 9, 10, 12, 13 };
	for (int i = 0; i < 4; i++) {
		if (store_row_is_null(row, sc[i]))
			continue;
		struct bw_str s = store_row_text(row, sc[i]);
		json_write_key(w, sk[i]);
		json_write_stringn(w, s.p, s.len);
	}
	json_write_kv_int(w, "count", store_row_int64(row, 11));
	if (!store_row_is_null(row, 14))
		json_write_kv_int(w, "event_id", store_row_int64(row, 14));
	if (!store_row_is_null(row, 16)) {
		struct bw_str s = store_row_text(row, 16);
		json_write_key(w, "case_id");
		json_write_stringn(w, s.p, s.len);
	}
	struct bw_str ctx = store_row_text(row, 15);
	struct bw_err perr;
	struct json_value *v = ctx.len ? json_parse(l->a, ctx.p, ctx.len, NULL, &perr) : NULL;
	if (v) {
		json_write_key(w, "context");
		json_write_value(w, v);
	}
	json_write_object_end(w);
	return STORE_ROW_NEXT;
}

#define ALERT_COLS                                                             \
	"id, ts, first_ts, last_ts, rule_id, rule_title, kind, level, severity,"   \
	" tenant, group_key, count, status, acked_by, event_id, context, case_id"

static void do_alerts(struct sjob *j)
{
	struct siem_query q;
	struct siem_scan_opts o;
	uint64_t limit, offset;
	if (!query_from_params(j, &q, &o, 7LL * 86400 * 1000000000LL) ||
	    !uint_param(j, "limit", 100, 1000, &limit) ||
	    !uint_param(j, "offset", 0, SIEM_SEARCH_OFFSET_MAX, &offset))
		return;
	const char *status = qparam(j, "status");
	struct store_value v[6];
	size_t nv = 0;
	char sql[512];
	int w0 = snprintf(sql, sizeof(sql),
			  "SELECT " ALERT_COLS " FROM siem_alert WHERE last_ts >= ? AND ts <= ?");
	v[nv++] = store_int(o.from_ns);
	v[nv++] = store_int(o.to_ns);
	if (status) {
		w0 += snprintf(sql + w0, sizeof(sql) - (size_t)w0, " AND status = ?");
		v[nv++] = store_text_str(status);
	}
	if (o.tenant) {
		w0 += snprintf(sql + w0, sizeof(sql) - (size_t)w0, " AND tenant = ?");
		v[nv++] = store_text_str(o.tenant);
	}
	snprintf(sql + w0, sizeof(sql) - (size_t)w0,
		 " ORDER BY ts DESC, id DESC LIMIT ? OFFSET ?");
	v[nv++] = store_int((int64_t)limit);
	v[nv++] = store_int((int64_t)offset);
	struct json_writer w;
	json_writer_init(&w, j->out);
	json_write_object_begin(&w);
	json_write_key(&w, "alerts");
	json_write_array_begin(&w);
	struct alert_list l = { &w, j->a };
	struct bw_err err;
	if (store_query(S->st, sql, v, nv, alert_row, &l, &err) < 0) {
		bw_buf_reset(j->out);
		sjob_fail_err(j, &err);
		return;
	}
	json_write_array_end(&w);
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0)
		sjob_fail(j, 500, "too_large", "response too large; lower limit");
}

struct ack_job {
	int64_t id;
	const char *actor;
	int64_t now;
};

static int ack_job_fn(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct ack_job *a = arg;
	struct store_value v[] = { store_text_str(a->actor), store_int(a->now), store_int(a->id) };
	if (store_tx_exec(tx,
			  "UPDATE siem_alert SET status = 'acknowledged', acked_by = ?,"
			  " acked_at = ? WHERE id = ?",
			  v, 3, err) < 0)
		return -1;
	if (store_tx_changes(tx) != 1)
		return SIEM_SVC_ERR(err, 404, "not_found", "no such alert");
	return 0;
}

static void do_alert_ack(struct sjob *j)
{
	uint64_t id;
	if (!j->p_id || bw_str_to_u64(bw_str_make(j->p_id, strlen(j->p_id)), &id) < 0) {
		sjob_fail(j, 400, "bad_id", "alert ids are integers");
		return;
	}
	struct ack_job a = { (int64_t)id, j->actor, bw_clock_now_ns() };
	struct bw_err err;
	if (store_write(S->st, ack_job_fn, &a, &err) < 0) {
		sjob_fail_err(j, &err);
		return;
	}
	struct json_writer w;
	json_writer_init(&w, j->out);
	json_write_object_begin(&w);
	json_write_kv_int(&w, "id", (int64_t)id);
	json_write_kv_string(&w, "status", "acknowledged");
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0)
		sjob_fail(j, 500, "internal", "response");
}

/* -------------------------------------------------------------- sources */

static void do_sources(struct sjob *j)
{
	struct json_writer w;
	json_writer_init(&w, j->out);
	json_write_object_begin(&w);
	json_write_key(&w, "sources");
	siem_keys_write_json(S, &w);
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0)
		sjob_fail(j, 500, "too_large", "response too large");
}

static void do_source_create(struct sjob *j)
{
	const char *name = json_get_str(j->body, "name", NULL);
	const char *tenant = json_get_str(j->body, "tenant", j->tenant);
	char token[96], id[17];
	struct bw_err err;
	if (siem_key_create(S, name, tenant, j->actor, token, id, &err) < 0) {
		sjob_fail_err(j, &err);
		return;
	}
	api_set_target(j->call, id);
	char details[160];
	snprintf(details, sizeof(details), "{\"tenant\":\"%s\"}", "redacted");
	j->status = 201;
	struct json_writer w;
	json_writer_init(&w, j->out);
	json_write_object_begin(&w);
	json_write_kv_string(&w, "id", id);
	json_write_kv_string(&w, "name", name);
	json_write_kv_string(&w, "tenant", tenant);
	json_write_kv_string(&w, "key", token);
	json_write_kv_string(&w, "note", "shown once; bulwark keeps only its hash");
	json_write_object_end(&w);
	bw_wipe(token, sizeof(token));
	if (json_writer_finish(&w) < 0)
		sjob_fail(j, 500, "internal", "response");
}

static void do_source_revoke(struct sjob *j)
{
	struct bw_err err;
	if (siem_key_revoke(S, j->p_id, &err) < 0) {
		sjob_fail_err(j, &err);
		return;
	}
	j->status = 204;
}

/* ---------------------------------------------------------------- misc */

static void do_stats(struct sjob *j)
{
	struct siem_stats s;
	siem_service_stats(S, &s);
	struct json_writer w;
	json_writer_init(&w, j->out);
	json_write_object_begin(&w);
#define F(x) json_write_kv_int(&w, #x, (int64_t)s.x)
	F(received);
	F(stored);
	F(queued);
	F(parse_failed);
	F(truncated);
	F(framing_errors);
	F(store_failed);
	F(refused_udp);
	F(udp_kernel_drops);
	F(refused_http);
	F(refused_bus);
	F(bus_events);
	F(refused_relp);
	F(paused);
	F(relp_acks);
	F(alerts);
	F(alerts_deduped);
	F(alerts_suppressed);
	F(retention_deleted);
	F(notify_sent);
	F(notify_failed);
	F(fwd_sent);
	F(fwd_failed);
	F(fwd_dropped);
	F(intel_matches);
	F(anomalies);
#undef F
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0)
		sjob_fail(j, 500, "internal", "response");
}

static void do_retention(struct sjob *j)
{
	struct bw_err err;
	int64_t n = siem_retention_run(S, &err);
	if (n < 0) {
		sjob_fail_err(j, &err);
		return;
	}
	char d[64];
	snprintf(d, sizeof(d), "{\"deleted\":%lld}", (long long)n);
	api_set_details(j->call, d);
	struct json_writer w;
	json_writer_init(&w, j->out);
	json_write_object_begin(&w);
	json_write_kv_int(&w, "deleted", n);
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0)
		sjob_fail(j, 500, "internal", "response");
}

/* -------------------------------------------------------------- routes */

#define R(name, fn, mut, body)                                                 \
	static void route_##name(struct api_call *c)                           \
	{                                                                      \
		start(c, fn, mut, body);                                       \
	}
/* Routes on shared state: platform callers only (see Tenancy above). */
#define RP(name, fn, mut, body)                                                \
	static void route_##name(struct api_call *c)                           \
	{                                                                      \
		if (strcmp(api_tenant(c), "platform") != 0) {                  \
			api_fail(c, 403, "forbidden",                          \
				 "operated from the platform tenant");         \
			return;                                                \
		}                                                              \
		start(c, fn, mut, body);                                       \
	}
R(search, do_search, false, false)
RP(event_get, do_event_get, false, false)
R(aggregate, do_aggregate, false, false)
R(rules, do_rules_list, false, false)
RP(rule_load, do_rule_load, true, true)
RP(rule_delete, do_rule_delete, true, false)
RP(rule_enable, do_rule_enable, true, false)
RP(rule_disable, do_rule_disable, true, false)
R(alerts, do_alerts, false, false)
RP(alert_ack, do_alert_ack, true, false)
RP(sources, do_sources, false, false)
RP(source_create, do_source_create, true, true)
RP(source_revoke, do_source_revoke, true, false)
RP(stats, do_stats, false, false)
RP(retention, do_retention, true, false)
RP(cases, siem_api_cases_list, false, false)
RP(case_create, siem_api_case_create, true, true)
RP(case_get, siem_api_case_get, false, false)
RP(case_timeline, siem_api_case_timeline, false, false)
RP(case_assign, siem_api_case_assign, true, true)
RP(case_status, siem_api_case_status, true, true)
RP(case_note, siem_api_case_note, true, true)
RP(case_link, siem_api_case_link, true, true)
R(report, siem_api_report, false, false)
#undef R
#undef RP

#define P "/api/v1/siem"
static const struct api_route routes[] = {
	{ HTTP_METHOD_GET, P "/events", "siem.event.read", NULL, false, route_search },
	{ HTTP_METHOD_GET, P "/events/{id}", "siem.event.read", NULL, false, route_event_get },
	{ HTTP_METHOD_GET, P "/aggregate", "siem.event.read", NULL, false, route_aggregate },
	{ HTTP_METHOD_GET, P "/rules", "siem.alert.read", NULL, false, route_rules },
	{ HTTP_METHOD_POST, P "/rules", "siem.rule.manage", "siem.rule.load", true,
	  route_rule_load },
	{ HTTP_METHOD_DELETE, P "/rules/{key}", "siem.rule.manage", "siem.rule.delete", true,
	  route_rule_delete },
	{ HTTP_METHOD_POST, P "/rules/{key}/enable", "siem.rule.manage", "siem.rule.enable",
	  true, route_rule_enable },
	{ HTTP_METHOD_POST, P "/rules/{key}/disable", "siem.rule.manage", "siem.rule.disable",
	  true, route_rule_disable },
	{ HTTP_METHOD_GET, P "/alerts", "siem.alert.read", NULL, false, route_alerts },
	{ HTTP_METHOD_POST, P "/alerts/{id}/ack", "siem.alert.manage", "siem.alert.ack", true,
	  route_alert_ack },
	{ HTTP_METHOD_GET, P "/sources", "siem.source.manage", NULL, false, route_sources },
	{ HTTP_METHOD_POST, P "/sources", "siem.source.manage", "siem.source.create", true,
	  route_source_create },
	{ HTTP_METHOD_DELETE, P "/sources/{id}", "siem.source.manage", "siem.source.revoke",
	  true, route_source_revoke },
	{ HTTP_METHOD_GET, P "/stats", "siem.event.read", NULL, false, route_stats },
	{ HTTP_METHOD_POST, P "/retention/run", "siem.rule.manage", "siem.retention.run", true,
	  route_retention },
	{ HTTP_METHOD_GET, P "/cases", "ir.case.read", NULL, false, route_cases },
	{ HTTP_METHOD_POST, P "/cases", "ir.case.manage", "siem.case.create", true,
	  route_case_create },
	{ HTTP_METHOD_GET, P "/cases/{id}", "ir.case.read", NULL, false, route_case_get },
	{ HTTP_METHOD_GET, P "/cases/{id}/timeline", "ir.case.read", NULL, false,
	  route_case_timeline },
	{ HTTP_METHOD_POST, P "/cases/{id}/assign", "ir.case.manage", "siem.case.assign",
	  true, route_case_assign },
	{ HTTP_METHOD_POST, P "/cases/{id}/status", "ir.case.manage", "siem.case.status",
	  true, route_case_status },
	{ HTTP_METHOD_POST, P "/cases/{id}/notes", "ir.case.manage", "siem.case.note", true,
	  route_case_note },
	{ HTTP_METHOD_POST, P "/cases/{id}/links", "ir.case.manage", "siem.case.link", true,
	  route_case_link },
	{ HTTP_METHOD_GET, P "/reports/access", "compliance.report.read", NULL, false, route_report },
};
#undef P

int siem_api_register(struct siem_service *svc)
{
	S = svc;
	return api_register(routes, BW_ARRAY_LEN(routes));
}

/* ------------------------------------------------ helpers for siem_case.c */

struct bw_arena *siem_sjob_arena(struct sjob *j)
{
	return j->a;
}
struct siem_service *siem_sjob_svc(struct sjob *j)
{
	return S;
}
const struct json_value *siem_sjob_body(struct sjob *j)
{
	return j->body;
}
const char *siem_sjob_id(struct sjob *j)
{
	return j->p_id;
}
const char *siem_sjob_actor(struct sjob *j)
{
	return j->actor;
}
const char *siem_sjob_tenant(struct sjob *j)
{
	return j->tenant;
}
struct bw_buf *siem_sjob_out(struct sjob *j)
{
	return j->out;
}
const char *siem_sjob_param(struct sjob *j, const char *name)
{
	return qparam(j, name);
}
bool siem_sjob_failed(struct sjob *j)
{
	return j->ecode != NULL;
}
bool siem_sjob_range(struct sjob *j, int64_t span_ns, int64_t *from, int64_t *to,
		     const char **tenant)
{
	struct siem_query *q = bw_arena_zalloc(j->a, sizeof(*q));
	struct siem_scan_opts o;
	if (!q) {
		sjob_fail(j, 503, "overloaded", "out of memory");
		return false;
	}
	if (!query_from_params(j, q, &o, span_ns))
		return false;
	*from = o.from_ns;
	*to = o.to_ns;
	*tenant = o.tenant;
	return true;
}
void siem_sjob_status(struct sjob *j, int status)
{
	j->status = status;
}
void siem_sjob_fail(struct sjob *j, int status, const char *code, const char *msg)
{
	sjob_fail(j, status, code, msg);
}
void siem_sjob_fail_err(struct sjob *j, const struct bw_err *err)
{
	sjob_fail_err(j, err);
}
void siem_sjob_content_type(struct sjob *j, const char *ct)
{
	j->ctype = ct;
}
void siem_sjob_target(struct sjob *j, const char *target)
{
	api_set_target(j->call, target);
}
