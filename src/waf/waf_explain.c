/*
 * waf_explain.c — why a request was blocked (or flagged): the explain
 * document of a transaction, and a process-wide ring of the last relevant
 * transactions' documents that the admin API reads by request id.
 *
 * The document lists every rule that logged a match or decided, in match
 * order: id, phase, file:line, message, logdata, severity, tags, the
 * variable and (cut) value that matched, the transformation chain, the
 * operator, the score it added, whether it disrupted; then the anomaly
 * totals of the TX collection and the verdict. Silent matches (nolog
 * initialisation rules, the CRS's bookkeeping) are only counted.
 *
 * Invariants:
 *  - the ring holds at most `cap` entries, each at most
 *    WAF_EXPLAIN_ENTRY_MAX bytes of JSON (a document that does not fit is
 *    rendered again with fewer matches, down to none);
 *  - entries are heap copies owned by the ring; one mutex guards it and
 *    is held only to swap a pointer in or copy a document out, never while
 *    rendering.
 */
#include "waf/waf_int.h"
#include "json/json.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct explain_entry {
	char id[64];
	char *doc;     /* the explain JSON */
	size_t len;
	char *summary; /* the list JSON object */
	size_t slen;
};

static struct {
	pthread_mutex_t mu;
	struct explain_entry *v;
	size_t cap, next, n;
} R = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void entry_clear(struct explain_entry *e)
{
	free(e->doc);
	free(e->summary);
	memset(e, 0, sizeof(*e));
}

/* Caller holds R.mu. */
static int ring_alloc(size_t entries)
{
	if (entries == 0)
		entries = WAF_EXPLAIN_ENTRIES_DEFAULT;
	if (entries > WAF_EXPLAIN_ENTRIES_HARD)
		entries = WAF_EXPLAIN_ENTRIES_HARD;
	struct explain_entry *v = calloc(entries, sizeof(*v));
	if (!v)
		return -1;
	for (size_t i = 0; i < R.cap; i++)
		entry_clear(&R.v[i]);
	free(R.v);
	R.v = v;
	R.cap = entries;
	R.next = R.n = 0;
	return 0;
}

void waf_explain_size(size_t *entries, size_t *capacity)
{
	pthread_mutex_lock(&R.mu);
	*entries = R.n;
	*capacity = R.cap ? R.cap : WAF_EXPLAIN_ENTRIES_DEFAULT;
	pthread_mutex_unlock(&R.mu);
}

void waf_explain_configure(size_t entries)
{
	pthread_mutex_lock(&R.mu);
	if (ring_alloc(entries) < 0)
		log_warnx("waf: explain ring: out of memory");
	pthread_mutex_unlock(&R.mu);
}

static bool tx_relevant(const struct waf_tx *tx)
{
	if (tx->disrupted)
		return true;
	for (size_t i = 0; i < tx->nmatches; i++)
		if (tx->matches[i].pub.logged)
			return true;
	return false;
}

static const char *verdict_text(const struct waf_tx *tx)
{
	if (!tx->disrupted)
		return tx->dec.verdict == WAF_ALLOW ? "allow" : "pass";
	switch (tx->dec.verdict) {
	case WAF_DENY:
		return "deny";
	case WAF_DROP:
		return "drop";
	case WAF_REDIRECT:
		return "redirect";
	case WAF_ALLOW:
		return "allow";
	case WAF_PASS:
		break;
	}
	return "pass";
}

/* The anomaly totals worth showing: the CRS's scores and thresholds. */
static const char *const score_keys[] = {
	"anomaly_score",
	"inbound_anomaly_score",
	"outbound_anomaly_score",
	"inbound_anomaly_score_threshold",
	"outbound_anomaly_score_threshold",
	"anomaly_score_pl1",
	"anomaly_score_pl2",
	"anomaly_score_pl3",
	"anomaly_score_pl4",
	"sql_injection_score",
	"xss_score",
	"rce_score",
	"lfi_score",
	"rfi_score",
	"php_injection_score",
	"http_violation_score",
	"session_fixation_score",
	"paranoia_level",
	"executing_paranoia_level",
};

static void str_cut(struct json_writer *w, const char *k, const char *v,
		    size_t max)
{
	size_t n = v ? strlen(v) : 0;
	json_write_key(w, k);
	json_write_stringn(w, v ? v : "", n > max ? max : n);
	if (n > max) {
		char tk[32];
		(void)bw_snprintf(tk, sizeof(tk), "%s_truncated", k);
		json_write_key(w, tk);
		json_write_bool(w, true);
	}
}

/* Splits "t:a,t:b" into ["a","b"]. */
static void tfn_list(struct json_writer *w, const char *t)
{
	json_write_key(w, "transformations");
	json_write_array_begin(w);
	while (t && *t) {
		const char *e = strchr(t, ',');
		size_t n = e ? (size_t)(e - t) : strlen(t);
		const char *p = t;
		if (n >= 2 && p[0] == 't' && p[1] == ':') {
			p += 2;
			n -= 2;
		}
		if (n)
			json_write_stringn(w, p, n);
		t = e ? e + 1 : NULL;
	}
	json_write_array_end(w);
}

/* Opens the document's object with the request: id, UTC time, client
 * address (the full document only), method and the URI cut at uri_max. */
static void head(struct json_writer *w, const struct waf_tx *tx, size_t uri_max,
		 bool client)
{
	char ts[32];
	time_t t = (time_t)(tx->start_ns / 1000000000);
	struct tm tm;
	gmtime_r(&t, &tm);
	if (strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		ts[0] = 0;
	json_write_object_begin(w);
	json_write_kv_string(w, "request_id", tx->id);
	json_write_kv_string(w, "time", ts);
	if (client) {
		struct bw_str ip = tx->scal[WAF_VAR_REMOTE_ADDR];
		json_write_key(w, "client_ip");
		json_write_stringn(w, ip.p ? ip.p : "", ip.p ? ip.len : 0);
	}
	json_write_key(w, "method");
	json_write_stringn(w, tx->method.p ? tx->method.p : "", tx->method.len);
	json_write_key(w, "uri");
	json_write_stringn(w, tx->uri_raw.p ? tx->uri_raw.p : "",
			   tx->uri_raw.len > uri_max ? uri_max : tx->uri_raw.len);
}

static int render(const struct waf_tx *tx, const char *route,
		  const char *mode_text, size_t max_matches, struct bw_buf *out)
{
	struct json_writer w;
	json_writer_init(&w, out);
	head(&w, tx, 1024, true);
	if (route)
		json_write_kv_string(&w, "route", route);
	json_write_kv_string(&w, "mode", mode_text ? mode_text : "");
	json_write_kv_string(&w, "engine",
			     tx->engine == WAF_ENGINE_ON ? "On"
			     : tx->engine == WAF_ENGINE_DETECTION_ONLY ? "DetectionOnly"
								       : "Off");
	json_write_kv_string(&w, "verdict", verdict_text(tx));
	json_write_key(&w, "status");
	json_write_int(&w, tx->disrupted && tx->dec.status ? tx->dec.status : tx->status);
	json_write_key(&w, "decided_by");
	if (tx->disrupted)
		json_write_uint(&w, tx->dec.rule_id);
	else
		json_write_null(&w);
	if (tx->disrupted)
		json_write_kv_int(&w, "phase", tx->dec.phase);

	json_write_key(&w, "scores");
	json_write_object_begin(&w);
	for (size_t i = 0; i < BW_ARRAY_LEN(score_keys); i++) {
		const struct waf_kv *kv = waf_col_get(
			tx, WAF_VAR_TX,
			bw_str_make(score_keys[i], strlen(score_keys[i])));
		if (kv)
			json_write_kv_int(&w, score_keys[i], waf_atoi(kv->val));
	}
	json_write_object_end(&w);

	json_write_key(&w, "matches");
	json_write_array_begin(&w);
	size_t shown = 0, silent = 0, cut = 0;
	for (size_t i = 0; i < tx->nmatches; i++) {
		const struct waf_match *m = &tx->matches[i].pub;
		if (!m->logged && !m->disruptive && m->score == 0) {
			silent++;
			continue;
		}
		if (shown >= max_matches) {
			cut++;
			continue;
		}
		shown++;
		json_write_object_begin(&w);
		json_write_key(&w, "rule_id");
		json_write_uint(&w, m->rule_id);
		json_write_kv_int(&w, "phase", m->phase);
		json_write_kv_string(&w, "file", m->file ? m->file : "");
		json_write_kv_int(&w, "line", m->line);
		json_write_kv_string(&w, "message", m->msg);
		str_cut(&w, "data", m->logdata, WAF_EXPLAIN_VALUE_MAX);
		json_write_kv_int(&w, "severity", m->severity);
		json_write_key(&w, "tags");
		json_write_array_begin(&w);
		for (size_t k = 0; k < m->ntags; k++)
			json_write_string(&w, m->tags[k] ? m->tags[k] : "");
		json_write_array_end(&w);
		json_write_kv_string(&w, "variable", m->var_name);
		str_cut(&w, "value", m->var_value, WAF_EXPLAIN_VALUE_MAX);
		tfn_list(&w, m->tfns);
		json_write_kv_string(&w, "operator", m->op ? m->op : "");
		json_write_kv_int(&w, "score", m->score);
		json_write_kv_bool(&w, "logged", m->logged);
		json_write_kv_bool(&w, "disruptive", m->disruptive);
		json_write_object_end(&w);
	}
	json_write_array_end(&w);
	json_write_key(&w, "silent_matches");
	json_write_uint(&w, silent);
	if (cut) {
		json_write_key(&w, "matches_omitted");
		json_write_uint(&w, cut);
	}
	json_write_object_end(&w);
	return json_writer_finish(&w);
}

int waf_tx_explain_json(const struct waf_tx *tx, const char *route,
			const char *mode_text, struct bw_buf *out)
{
	return render(tx, route, mode_text, WAF_EXPLAIN_MATCHES_MAX, out);
}

static int render_summary(const struct waf_tx *tx, struct bw_buf *out)
{
	struct json_writer w;
	json_writer_init(&w, out);
	head(&w, tx, 256, false);
	json_write_kv_string(&w, "verdict", verdict_text(tx));
	json_write_kv_int(&w, "status",
			  tx->disrupted && tx->dec.status ? tx->dec.status : tx->status);
	json_write_kv_int(&w, "anomaly_score", waf_tx_score(tx, "anomaly_score"));
	json_write_key(&w, "rule_ids");
	json_write_array_begin(&w);
	size_t shown = 0;
	for (size_t i = 0; i < tx->nmatches && shown < WAF_EXPLAIN_MATCHES_MAX; i++) {
		const struct waf_match *m = &tx->matches[i].pub;
		if (m->logged || m->disruptive) {
			json_write_uint(&w, m->rule_id);
			shown++;
		}
	}
	json_write_array_end(&w);
	json_write_object_end(&w);
	return json_writer_finish(&w);
}

int waf_explain_record(const struct waf_tx *tx, const char *route,
		       const char *mode_text)
{
	if (!tx_relevant(tx))
		return 0;
	struct bw_buf doc, sum;
	bw_buf_init(&doc, WAF_EXPLAIN_ENTRY_MAX);
	bw_buf_init(&sum, 4096);
	int rc = -1;
	/* A document too large for an entry keeps fewer matches. */
	size_t max = WAF_EXPLAIN_MATCHES_MAX;
	for (;;) {
		bw_buf_reset(&doc);
		if (render(tx, route, mode_text, max, &doc) == 0)
			break;
		if (max == 0)
			goto out;
		max /= 2;
	}
	if (render_summary(tx, &sum) < 0)
		goto out;
	struct explain_entry e = { 0 };
	(void)bw_snprintf(e.id, sizeof(e.id), "%s", tx->id);
	e.doc = bw_buf_detach(&doc, &e.len);
	e.summary = bw_buf_detach(&sum, &e.slen);
	if (!e.doc || !e.summary) {
		entry_clear(&e);
		goto out;
	}
	struct explain_entry old = { 0 };
	pthread_mutex_lock(&R.mu);
	if (!R.v && ring_alloc(0) < 0) {
		pthread_mutex_unlock(&R.mu);
		entry_clear(&e);
		goto out;
	}
	old = R.v[R.next];
	R.v[R.next] = e;
	R.next = (R.next + 1) % R.cap;
	if (R.n < R.cap)
		R.n++;
	pthread_mutex_unlock(&R.mu);
	entry_clear(&old);
	rc = 1;
out:
	bw_buf_fini(&doc);
	bw_buf_fini(&sum);
	return rc;
}

int waf_explain_get(const char *id, struct bw_buf *out)
{
	int rc = 0;
	pthread_mutex_lock(&R.mu);
	/* newest first: a reused id (a client's X-Request-Id) finds the
	 * latest request */
	for (size_t k = 0; k < R.n; k++) {
		size_t i = (R.next + R.cap - 1 - k) % R.cap;
		if (R.v[i].doc && strcmp(R.v[i].id, id) == 0) {
			rc = bw_buf_append(out, R.v[i].doc, R.v[i].len) < 0 ? -1 : 1;
			break;
		}
	}
	pthread_mutex_unlock(&R.mu);
	return rc;
}

int waf_explain_list(size_t max, struct bw_buf *out)
{
	int rc = 0;
	pthread_mutex_lock(&R.mu);
	if (bw_buf_append_byte(out, '[') < 0)
		rc = -1;
	for (size_t k = 0; rc == 0 && k < R.n && k < max; k++) {
		size_t i = (R.next + R.cap - 1 - k) % R.cap;
		if ((k && bw_buf_append_byte(out, ',') < 0) ||
		    bw_buf_append(out, R.v[i].summary, R.v[i].slen) < 0)
			rc = -1;
	}
	if (rc == 0 && bw_buf_append_byte(out, ']') < 0)
		rc = -1;
	pthread_mutex_unlock(&R.mu);
	return rc;
}
