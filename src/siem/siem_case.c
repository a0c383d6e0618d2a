/*
 * siem_case.c — incident cases built from alerts: creation (severity
 * from the worst alert unless given), assignee, the status workflow
 * new → triage → investigating → contained → resolved → closed (forward
 * moves, possibly skipping steps; resolved or closed may be reopened to
 * investigating), notes, links to alerts and events, and the timeline
 * that merges the linked events, the alerts and the case's own history
 * in time order.
 *
 * Every change is one store job that also appends to siem_case_log, so
 * the history is exactly what was committed. Runs on the thread pool
 * (blocking store calls) through siem_api.c's job wrapper.
 */
#include "siem/siem_svc_int.h"

#include <stdio.h>
#include <stdlib.h>

static const char *const states[] = { "new",	   "triage",   "investigating",
				      "contained", "resolved", "closed",
				      NULL };

static int state_index(const char *s)
{
	for (int i = 0; states[i]; i++)
		if (strcmp(states[i], s) == 0)
			return i;
	return -1;
}

/* Allowed: forward (skips allowed), or reopening resolved/closed. */
bool siem_case_transition_ok(const char *from, const char *to)
{
	int a = state_index(from), b = state_index(to);
	if (a < 0 || b < 0 || a == b)
		return false;
	if (b > a)
		return true;
	return (a == 4 || a == 5) && b == 2;
}

static const char *const severities[] = { "informational", "low", "medium", "high",
					  "critical", NULL };

/* ------------------------------------------------------------- writes */

#define MAX_LINKS 256

struct case_job {
	const char *id, *title, *severity, *assignee, *status, *text, *actor, *tenant;
	int64_t alerts[MAX_LINKS];
	size_t nalerts;
	int64_t events[MAX_LINKS];
	size_t nevents;
	int64_t now;
	int op; /* 0 create, 1 assign, 2 status, 3 note, 4 link */
	char prev_status[32];
	char sev_out[32];
};

static int log_entry(struct store_tx *tx, struct case_job *c, const char *kind,
		     const char *text, struct bw_err *err)
{
	uint8_t r[8];
	char id[17];
	bw_random(r, sizeof(r));
	bw_hex_encode(r, sizeof(r), id);
	struct store_value v[] = { store_text_str(id),	 store_text_str(c->id),
				   store_int(c->now),	 store_text_str(c->actor),
				   store_text_str(kind), store_text_str(text) };
	return store_tx_exec(tx,
			     "INSERT INTO siem_case_log (id, case_id, ts, actor, kind, text)"
			     " VALUES (?, ?, ?, ?, ?, ?)",
			     v, 6, err);
}

struct one_str {
	char s[64];
	bool found;
};

static int one_str_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct one_str *o = arg;
	struct bw_str v = store_row_text(row, 0);
	size_t n = v.len < sizeof(o->s) - 1 ? v.len : sizeof(o->s) - 1;
	memcpy(o->s, v.p, n);
	o->s[n] = '\0';
	o->found = true;
	return STORE_ROW_NEXT;
}

struct alert_info {
	int64_t max_sev;
	int64_t event_id, ts;
	bool found;
};

static int alert_info_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct alert_info *a = arg;
	a->found = true;
	a->max_sev = store_row_int64(row, 0);
	a->event_id = store_row_is_null(row, 1) ? 0 : store_row_int64(row, 1);
	a->ts = store_row_int64(row, 2);
	return STORE_ROW_NEXT;
}

/* Links an event to the case (once: linking again is a no-op). */
static int case_event_add(struct store_tx *tx, const struct case_job *c, int64_t event_id,
			  int64_t ts, struct bw_err *err)
{
	struct store_value e[] = { store_text_str(c->id), store_int(event_id), store_int(ts) };
	return store_tx_exec(tx,
			     "INSERT INTO siem_case_event (case_id, event_id, ts)"
			     " VALUES (?, ?, ?) ON CONFLICT (case_id, event_id) DO NOTHING",
			     e, 3, err);
}

static int link_alerts(struct store_tx *tx, struct case_job *c, int64_t *max_sev,
		       struct bw_err *err)
{
	for (size_t i = 0; i < c->nalerts; i++) {
		struct alert_info ai = { 0 };
		struct store_value k[] = { store_int(c->alerts[i]) };
		if (store_tx_query_one(tx,
				       "SELECT severity, event_id, ts FROM siem_alert WHERE id = ?",
				       k, 1, alert_info_row, &ai, err) < 0)
			return -1;
		if (!ai.found)
			return SIEM_SVC_ERR(err, 404, "not_found", "alert %lld does not exist",
					    (long long)c->alerts[i]);
		if (ai.max_sev > *max_sev)
			*max_sev = ai.max_sev;
		struct store_value v[] = { store_text_str(c->id), store_int(c->alerts[i]) };
		if (store_tx_exec(tx,
				  "INSERT INTO siem_case_alert (case_id, alert_id) VALUES (?, ?)"
				  " ON CONFLICT (case_id, alert_id) DO NOTHING",
				  v, 2, err) < 0)
			return -1;
		struct store_value u[] = { store_text_str(c->id), store_int(c->alerts[i]) };
		if (store_tx_exec(tx, "UPDATE siem_alert SET case_id = ? WHERE id = ?", u, 2,
				  err) < 0)
			return -1;
		/* the event that raised the alert belongs to the case too */
		if (ai.event_id && case_event_add(tx, c, ai.event_id, ai.ts, err) < 0)
			return -1;
		char t[64];
		snprintf(t, sizeof(t), "alert %lld linked", (long long)c->alerts[i]);
		if (log_entry(tx, c, "link", t, err) < 0)
			return -1;
	}
	return 0;
}

static int link_events(struct store_tx *tx, struct case_job *c, struct bw_err *err)
{
	for (size_t i = 0; i < c->nevents; i++) {
		/* the event's time comes from its row when we can find it */
		if (case_event_add(tx, c, c->events[i], 0, err) < 0)
			return -1;
		char t[64];
		snprintf(t, sizeof(t), "event %lld linked", (long long)c->events[i]);
		if (log_entry(tx, c, "link", t, err) < 0)
			return -1;
	}
	return 0;
}

static int case_job_fn(struct store_tx *tx, void *arg, struct bw_err *err)
{
	struct case_job *c = arg;
	if (c->op != 0) {
		struct one_str st = { 0 };
		struct store_value k[] = { store_text_str(c->id) };
		if (store_tx_query_one(tx, "SELECT status FROM siem_case WHERE id = ?", k, 1,
				       one_str_row, &st, err) < 0)
			return -1;
		if (!st.found)
			return SIEM_SVC_ERR(err, 404, "not_found", "no such case");
		memcpy(c->prev_status, st.s, sizeof(c->prev_status) - 1);
	}
	switch (c->op) {
	case 0: {
		int64_t sev = 0;
		struct store_value v[] = { store_text_str(c->id),
					   store_text_str(c->title),
					   store_text_str("medium"),
					   store_text_str("new"),
					   store_text_str(c->assignee),
					   store_text_str(c->tenant),
					   store_int(c->now),
					   store_int(c->now),
					   store_text_str(c->actor) };
		if (store_tx_exec(tx,
				  "INSERT INTO siem_case (id, title, severity, status, assignee,"
				  " tenant, created, updated, created_by)"
				  " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
				  v, 9, err) < 0 ||
		    log_entry(tx, c, "created", c->title, err) < 0 ||
		    link_alerts(tx, c, &sev, err) < 0 || link_events(tx, c, err) < 0)
			return -1;
		/* severity: given, else the worst linked alert's level */
		const char *s = c->severity;
		if (!s)
			s = sev >= SIEM_LEVEL_CRITICAL ? "critical" :
			    sev >= SIEM_LEVEL_HIGH     ? "high" :
			    sev >= SIEM_LEVEL_MEDIUM   ? "medium" :
			    sev >= SIEM_LEVEL_LOW      ? "low" :
			    c->nalerts		       ? "informational" :
							 "medium";
		bw_snprintf(c->sev_out, sizeof(c->sev_out), "%s", s);
		struct store_value u[] = { store_text_str(s), store_text_str(c->id) };
		if (store_tx_exec(tx, "UPDATE siem_case SET severity = ? WHERE id = ?", u, 2,
				  err) < 0)
			return -1;
		if (c->assignee) {
			char t[200];
			snprintf(t, sizeof(t), "assigned to %s", c->assignee);
			if (log_entry(tx, c, "assign", t, err) < 0)
				return -1;
		}
		return 0;
	}
	case 1: {
		struct store_value v[] = { store_text_str(c->assignee), store_int(c->now),
					   store_text_str(c->id) };
		char t[200];
		snprintf(t, sizeof(t), "assigned to %s", c->assignee);
		return store_tx_exec(tx,
				     "UPDATE siem_case SET assignee = ?, updated = ? WHERE id = ?",
				     v, 3, err) < 0 ?
			       -1 :
			       log_entry(tx, c, "assign", t, err);
	}
	case 2: {
		if (!siem_case_transition_ok(c->prev_status, c->status))
			return SIEM_SVC_ERR(err, 409, "bad_transition",
					    "a case cannot go from %s to %s", c->prev_status,
					    c->status);
		struct store_value v[] = { store_text_str(c->status), store_int(c->now),
					   store_text_str(c->id) };
		char t[120];
		snprintf(t, sizeof(t), "%s -> %s", c->prev_status, c->status);
		return store_tx_exec(tx,
				     "UPDATE siem_case SET status = ?, updated = ? WHERE id = ?",
				     v, 3, err) < 0 ?
			       -1 :
			       log_entry(tx, c, "status", t, err);
	}
	case 3: {
		struct store_value v[] = { store_int(c->now), store_text_str(c->id) };
		return store_tx_exec(tx, "UPDATE siem_case SET updated = ? WHERE id = ?", v, 2,
				     err) < 0 ?
			       -1 :
			       log_entry(tx, c, "note", c->text, err);
	}
	default: {
		int64_t sev = 0;
		struct store_value v[] = { store_int(c->now), store_text_str(c->id) };
		if (store_tx_exec(tx, "UPDATE siem_case SET updated = ? WHERE id = ?", v, 2,
				  err) < 0)
			return -1;
		return link_alerts(tx, c, &sev, err) < 0 ? -1 : link_events(tx, c, err);
	}
	}
}

static bool read_ids(const struct json_value *body, const char *key, int64_t *out,
		     size_t *n)
{
	const struct json_value *a = json_get(body, key);
	*n = 0;
	if (!a)
		return true;
	if (a->type != JSON_ARRAY || a->u.arr.n > MAX_LINKS)
		return false;
	for (size_t i = 0; i < a->u.arr.n; i++) {
		const struct json_value *v = a->u.arr.items[i];
		if (v->type != JSON_NUMBER || !v->u.num.is_int || v->u.num.i <= 0)
			return false;
		out[(*n)++] = v->u.num.i;
	}
	return true;
}

static void write_ok(struct sjob *j, const char *id, const char *key, const char *val)
{
	struct json_writer w;
	json_writer_init(&w, siem_sjob_out(j));
	json_write_object_begin(&w);
	json_write_kv_string(&w, "id", id);
	if (key)
		json_write_kv_string(&w, key, val);
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0)
		siem_sjob_fail(j, 500, "internal", "response");
}

static bool run(struct sjob *j, struct case_job *c)
{
	struct bw_err err;
	c->now = bw_clock_now_ns();
	c->actor = siem_sjob_actor(j);
	if (store_write(siem_sjob_svc(j)->st, case_job_fn, c, &err) < 0) {
		siem_sjob_fail_err(j, &err);
		return false;
	}
	return true;
}

void siem_api_case_create(struct sjob *j)
{
	const struct json_value *b = siem_sjob_body(j);
	struct case_job *c = bw_arena_zalloc(siem_sjob_arena(j), sizeof(*c));
	if (!c) {
		siem_sjob_fail(j, 503, "overloaded", "out of memory");
		return;
	}
	c->title = json_get_str(b, "title", NULL);
	c->severity = json_get_str(b, "severity", NULL);
	c->assignee = json_get_str(b, "assignee", NULL);
	c->tenant = json_get_str(b, "tenant", siem_sjob_tenant(j));
	if (!c->title || !*c->title || strlen(c->title) > 256) {
		siem_sjob_fail(j, 400, "bad_request", "title (1-256 bytes) is required");
		return;
	}
	if (c->severity) {
		bool ok = false;
		for (size_t i = 0; severities[i]; i++)
			ok |= strcmp(severities[i], c->severity) == 0;
		if (!ok) {
			siem_sjob_fail(j, 400, "bad_request",
				       "severity: informational, low, medium, high or critical");
			return;
		}
	}
	if ((c->assignee && strlen(c->assignee) > 128) ||
	    !read_ids(b, "alerts", c->alerts, &c->nalerts) ||
	    !read_ids(b, "events", c->events, &c->nevents)) {
		siem_sjob_fail(j, 400, "bad_request",
			       "alerts and events are arrays of ids (at most 256 each)");
		return;
	}
	uint8_t r[8];
	char *id = bw_arena_alloc(siem_sjob_arena(j), 24);
	bw_random(r, sizeof(r));
	memcpy(id, "case-", 5);
	bw_hex_encode(r, sizeof(r), id + 5);
	c->id = id;
	c->op = 0;
	siem_sjob_target(j, id);
	if (!run(j, c))
		return;
	siem_sjob_status(j, 201);
	write_ok(j, id, "severity", c->sev_out);
}

void siem_api_case_assign(struct sjob *j)
{
	struct case_job *c = bw_arena_zalloc(siem_sjob_arena(j), sizeof(*c));
	if (!c)
		return siem_sjob_fail(j, 503, "overloaded", "out of memory");
	c->id = siem_sjob_id(j);
	c->op = 1;
	c->assignee = json_get_str(siem_sjob_body(j), "assignee", NULL);
	if (!c->assignee || !*c->assignee || strlen(c->assignee) > 128)
		return siem_sjob_fail(j, 400, "bad_request", "assignee (1-128 bytes) is required");
	if (run(j, c))
		write_ok(j, c->id, "assignee", c->assignee);
}

void siem_api_case_status(struct sjob *j)
{
	struct case_job *c = bw_arena_zalloc(siem_sjob_arena(j), sizeof(*c));
	if (!c)
		return siem_sjob_fail(j, 503, "overloaded", "out of memory");
	c->id = siem_sjob_id(j);
	c->op = 2;
	c->status = json_get_str(siem_sjob_body(j), "status", NULL);
	if (!c->status || state_index(c->status) < 0)
		return siem_sjob_fail(j, 400, "bad_request",
				      "status: new, triage, investigating, contained, resolved"
				      " or closed");
	if (run(j, c))
		write_ok(j, c->id, "status", c->status);
}

void siem_api_case_note(struct sjob *j)
{
	struct case_job *c = bw_arena_zalloc(siem_sjob_arena(j), sizeof(*c));
	if (!c)
		return siem_sjob_fail(j, 503, "overloaded", "out of memory");
	c->id = siem_sjob_id(j);
	c->op = 3;
	c->text = json_get_str(siem_sjob_body(j), "text", NULL);
	if (!c->text || !*c->text || strlen(c->text) > 16384)
		return siem_sjob_fail(j, 400, "bad_request", "text (1-16384 bytes) is required");
	if (run(j, c))
		write_ok(j, c->id, NULL, NULL);
}

void siem_api_case_link(struct sjob *j)
{
	struct case_job *c = bw_arena_zalloc(siem_sjob_arena(j), sizeof(*c));
	if (!c)
		return siem_sjob_fail(j, 503, "overloaded", "out of memory");
	c->id = siem_sjob_id(j);
	c->op = 4;
	const struct json_value *b = siem_sjob_body(j);
	if (!read_ids(b, "alerts", c->alerts, &c->nalerts) ||
	    !read_ids(b, "events", c->events, &c->nevents) || c->nalerts + c->nevents == 0)
		return siem_sjob_fail(j, 400, "bad_request",
				      "alerts and/or events: arrays of ids (at most 256 each)");
	if (run(j, c))
		write_ok(j, c->id, NULL, NULL);
}

/* -------------------------------------------------------------- reads */

static void wstr(struct json_writer *w, const char *k, const struct store_row *row, int col)
{
	if (store_row_is_null(row, col))
		return;
	struct bw_str s = store_row_text(row, col);
	json_write_key(w, k);
	json_write_stringn(w, s.p, s.len);
}

static void wtime(struct json_writer *w, const char *k, int64_t ns)
{
	char t[32];
	bw_time_format(ns, t);
	json_write_kv_string(w, k, t);
}

static int case_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct json_writer *w = arg;
	json_write_object_begin(w);
	wstr(w, "id", row, 0);
	wstr(w, "title", row, 1);
	wstr(w, "severity", row, 2);
	wstr(w, "status", row, 3);
	wstr(w, "assignee", row, 4);
	wstr(w, "tenant", row, 5);
	wtime(w, "created", store_row_int64(row, 6));
	wtime(w, "updated", store_row_int64(row, 7));
	wstr(w, "created_by", row, 8);
	json_write_object_end(w);
	return STORE_ROW_NEXT;
}

#define CASE_COLS "id, title, severity, status, assignee, tenant, created, updated, created_by"

void siem_api_cases_list(struct sjob *j)
{
	const char *status = siem_sjob_param(j, "status");
	struct json_writer w;
	json_writer_init(&w, siem_sjob_out(j));
	json_write_object_begin(&w);
	json_write_key(&w, "cases");
	json_write_array_begin(&w);
	struct store_value v[] = { store_text_str(status) };
	struct bw_err err;
	if (store_query(siem_sjob_svc(j)->st,
			status ? "SELECT " CASE_COLS " FROM siem_case WHERE status = ?"
				 " ORDER BY updated DESC LIMIT 1000" :
				 "SELECT " CASE_COLS " FROM siem_case ORDER BY updated DESC"
				 " LIMIT 1000",
			v, status ? 1 : 0, case_row, &w, &err) < 0) {
		bw_buf_reset(siem_sjob_out(j));
		return siem_sjob_fail_err(j, &err);
	}
	json_write_array_end(&w);
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0)
		siem_sjob_fail(j, 500, "too_large", "response too large");
}

struct tl_entry {
	int64_t ts;
	int kind; /* 0 event, 1 alert, 2 log */
	int64_t ref;
	char *a, *b; /* kind-specific text (arena) */
};

struct tl {
	struct tl_entry *e;
	size_t n, cap;
	struct bw_arena *a;
	int kind;
};

static int tl_add(struct tl *t, int64_t ts, int kind, int64_t ref, struct bw_str a,
		  struct bw_str b)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		if (cap > 100000)
			return -1;
		struct tl_entry *e = realloc(t->e, cap * sizeof(*e));
		if (!e)
			return -1;
		t->e = e;
		t->cap = cap;
	}
	t->e[t->n++] = (struct tl_entry){ ts, kind, ref,
					  bw_arena_strndup(t->a, a.p ? a.p : "", a.len),
					  bw_arena_strndup(t->a, b.p ? b.p : "", b.len) };
	return 0;
}

static int tl_alert_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct tl *t = arg;
	return tl_add(t, store_row_int64(row, 1), 1, store_row_int64(row, 0),
		      store_row_text(row, 2), store_row_text(row, 3)) < 0 ?
		       SIEM_SVC_ERR(err, 500, "memory", "timeline too long") :
		       STORE_ROW_NEXT;
}

static int tl_log_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct tl *t = arg;
	struct bw_str kind = store_row_text(row, 1), text = store_row_text(row, 2);
	return tl_add(t, store_row_int64(row, 0), 2, 0, kind, text) < 0 ?
		       SIEM_SVC_ERR(err, 500, "memory", "timeline too long") :
		       STORE_ROW_NEXT;
}

static int tl_event_row(void *arg, const struct store_row *row, struct bw_err *err)
{
	struct tl *t = arg;
	return tl_add(t, store_row_int64(row, 1), 0, store_row_int64(row, 0),
		      bw_str_make(NULL, 0), bw_str_make(NULL, 0)) < 0 ?
		       SIEM_SVC_ERR(err, 500, "memory", "timeline too long") :
		       STORE_ROW_NEXT;
}

static int cmp_tl(const void *x, const void *y)
{
	const struct tl_entry *a = x, *b = y;
	if (a->ts != b->ts)
		return a->ts < b->ts ? -1 : 1;
	return a->kind - b->kind;
}

/* Writes the case (with alerts, events, notes and its timeline when
 * timeline is set). */
static void case_detail(struct sjob *j, bool timeline_only)
{
	struct siem_service *svc = siem_sjob_svc(j);
	const char *id = siem_sjob_id(j);
	struct json_writer w;
	json_writer_init(&w, siem_sjob_out(j));
	struct store_value k[] = { store_text_str(id) };
	struct bw_err err;
	struct bw_buf head;
	bw_buf_init(&head, 1 << 16);
	struct json_writer hw;
	json_writer_init(&hw, &head);
	int found = store_query_one(svc->st, "SELECT " CASE_COLS " FROM siem_case WHERE id = ?",
				    k, 1, case_row, &hw, &err);
	if (found <= 0) {
		bw_buf_fini(&head);
		if (found < 0)
			return siem_sjob_fail_err(j, &err);
		return siem_sjob_fail(j, 404, "not_found", "no such case");
	}
	struct tl t = { .a = siem_sjob_arena(j) };
	int rc = store_query(svc->st,
			     "SELECT a.id, a.ts, a.rule_title, a.level FROM siem_alert a,"
			     " siem_case_alert c WHERE c.case_id = ? AND a.id = c.alert_id",
			     k, 1, tl_alert_row, &t, &err);
	if (rc == 0)
		rc = store_query(svc->st,
				 "SELECT event_id, ts FROM siem_case_event WHERE case_id = ?", k,
				 1, tl_event_row, &t, &err);
	if (rc == 0)
		rc = store_query(svc->st,
				 "SELECT ts, kind, text, actor FROM siem_case_log WHERE case_id = ?"
				 " ORDER BY ts",
				 k, 1, tl_log_row, &t, &err);
	if (rc < 0) {
		bw_buf_fini(&head);
		free(t.e);
		return siem_sjob_fail_err(j, &err);
	}
	/* events: their time and a summary from the stored document */
	struct bw_buf doc;
	bw_buf_init(&doc, 4u << 20);
	for (size_t i = 0; i < t.n; i++) {
		if (t.e[i].kind != 0)
			continue;
		int64_t ts = 0;
		bw_buf_reset(&doc);
		if (siem_event_doc(svc, t.e[i].ref, t.e[i].ts, &doc, &ts, &err) == 1) {
			t.e[i].ts = ts;
			struct bw_arena *ea = bw_arena_new(8192, 8u << 20);
			struct siem_event ev;
			if (ea && siem_event_from_json(doc.data, doc.len, ea, &ev, &err) == 0) {
				struct bw_str m = siem_event_get(&ev, SIEM_F_MESSAGE);
				if (!m.p)
					m = siem_event_get(&ev, SIEM_F_EVENT_ORIGINAL);
				struct bw_str act = siem_event_get(&ev, SIEM_F_EVENT_ACTION);
				t.e[i].a = bw_arena_strndup(t.a, act.p ? act.p : "", act.len);
				t.e[i].b = bw_arena_strndup(t.a, m.p ? m.p : "",
							    m.len > 512 ? 512 : m.len);
			}
			bw_arena_free(ea);
		}
	}
	bw_buf_fini(&doc);
	if (t.n)
		qsort(t.e, t.n, sizeof(*t.e), cmp_tl);
	json_write_object_begin(&w);
	if (json_writer_finish(&hw) == 0) {
		struct json_value *cv = json_parse(t.a, head.data, head.len, NULL, &err);
		if (cv) {
			json_write_key(&w, "case");
			json_write_value(&w, cv);
		}
	}
	bw_buf_fini(&head);
	if (!timeline_only) {
		json_write_key(&w, "alerts");
		json_write_array_begin(&w);
		for (size_t i = 0; i < t.n; i++)
			if (t.e[i].kind == 1)
				json_write_int(&w, t.e[i].ref);
		json_write_array_end(&w);
		json_write_key(&w, "events");
		json_write_array_begin(&w);
		for (size_t i = 0; i < t.n; i++)
			if (t.e[i].kind == 0)
				json_write_int(&w, t.e[i].ref);
		json_write_array_end(&w);
		json_write_key(&w, "notes");
		json_write_array_begin(&w);
		for (size_t i = 0; i < t.n; i++)
			if (t.e[i].kind == 2 && strcmp(t.e[i].a, "note") == 0) {
				json_write_object_begin(&w);
				wtime(&w, "time", t.e[i].ts);
				json_write_kv_string(&w, "text", t.e[i].b);
				json_write_object_end(&w);
			}
		json_write_array_end(&w);
	}
	json_write_key(&w, "timeline");
	json_write_array_begin(&w);
	for (size_t i = 0; i < t.n; i++) {
		struct tl_entry *e = &t.e[i];
		json_write_object_begin(&w);
		wtime(&w, "time", e->ts);
		if (e->kind == 0) {
			json_write_kv_string(&w, "type", "event");
			json_write_kv_int(&w, "event_id", e->ref);
			json_write_kv_string(&w, "action", e->a);
			json_write_kv_string(&w, "summary", e->b);
		} else if (e->kind == 1) {
			json_write_kv_string(&w, "type", "alert");
			json_write_kv_int(&w, "alert_id", e->ref);
			json_write_kv_string(&w, "title", e->a);
			json_write_kv_string(&w, "level", e->b);
		} else {
			json_write_kv_string(&w, "type", e->a);
			json_write_kv_string(&w, "text", e->b);
		}
		json_write_object_end(&w);
	}
	json_write_array_end(&w);
	json_write_object_end(&w);
	free(t.e);
	if (json_writer_finish(&w) < 0)
		siem_sjob_fail(j, 500, "too_large", "response too large");
}

void siem_api_case_get(struct sjob *j)
{
	case_detail(j, false);
}

void siem_api_case_timeline(struct sjob *j)
{
	case_detail(j, true);
}
