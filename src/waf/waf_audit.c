/*
 * waf_audit.c — the ModSecurity v3-compatible JSON audit log entry of a
 * transaction: {"transaction": {client/server addresses, time_stamp,
 * unique_id, "request": {...}, "response": {...}, "producer": {...},
 * "messages": [{"message", "details": {"match", "reference", "ruleId",
 * "file", "lineNumber", "data", "severity", "ver", "rev", "tags",
 * "maturity", "accuracy"}}]}}, the shape tools that read v3's JSON
 * audit log (SecAuditLogFormat JSON) expect. Like v3, numbers inside
 * "details" are strings.
 *
 * Only logged matches (rules without nolog) appear in "messages". Bodies
 * are left out unless the caller asks: they may carry credentials, and
 * bulwark's logging rules forbid bodies in logs by default.
 */
#include "waf/waf_int.h"
#include "json/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void kv_str(struct json_writer *w, const char *k, const char *v)
{
	json_write_key(w, k);
	json_write_string(w, v ? v : "");
}

static void kv_strn(struct json_writer *w, const char *k, struct bw_str v)
{
	json_write_key(w, k);
	json_write_stringn(w, v.p ? v.p : "", v.p ? v.len : 0);
}

static void headers(struct json_writer *w, const struct waf_col *c)
{
	json_write_object_begin(w);
	for (uint32_t i = 0; i < c->n; i++) {
		char name[256];
		size_t l = c->v[i].key.len < sizeof(name) - 1 ? c->v[i].key.len
							      : sizeof(name) - 1;
		memcpy(name, c->v[i].key.p, l);
		name[l] = 0;
		json_write_key(w, name);
		json_write_stringn(w, c->v[i].val.p, c->v[i].val.len);
	}
	json_write_object_end(w);
}

static void num_str(struct json_writer *w, const char *k, long long v)
{
	char tmp[24];
	(void)bw_snprintf(tmp, sizeof(tmp), "%lld", v);
	kv_str(w, k, tmp);
}

/* v3's "match" text: Matched "Operator `Rx' with parameter `...' against
 * variable `ARGS:q' (Value: `...' ). v3 names operators by their class
 * (Rx, Pm, DetectSQLi): the SecLang name with its first letter raised. The
 * parameter and value are cut at WAF_AUDIT_MATCH_TEXT_MAX bytes each so one
 * CRS regex does not dominate every entry. */
#define WAF_AUDIT_MATCH_TEXT_MAX 1024
static void match_text(struct json_writer *w, const struct waf_match_int *mi)
{
	const struct waf_match *m = &mi->pub;
	const struct waf_rule *last = mi->rule;
	while (last && last->chain_next)
		last = last->chain_next;
	struct bw_str param = last ? last->op.arg : bw_str_make("", 0);
	size_t pl = param.p ? param.len : 0, vl = strlen(m->var_value);
	if (pl > WAF_AUDIT_MATCH_TEXT_MAX)
		pl = WAF_AUDIT_MATCH_TEXT_MAX;
	if (vl > WAF_AUDIT_MATCH_TEXT_MAX)
		vl = WAF_AUDIT_MATCH_TEXT_MAX;
	char op[48];
	(void)bw_snprintf(op, sizeof(op), "%s", m->op ? m->op : "");
	if (op[0] >= 'a' && op[0] <= 'z')
		op[0] = (char)(op[0] - 'a' + 'A');
	struct bw_buf b;
	bw_buf_init(&b, 3 * WAF_AUDIT_MATCH_TEXT_MAX);
	int rc = bw_buf_printf(&b, "Matched \"Operator `%s' with parameter `%.*s' "
			       "against variable `%s' (Value: `%.*s' )", op, (int)pl,
			       param.p ? param.p : "", m->var_name, (int)vl,
			       m->var_value);
	json_write_key(w, "match");
	if (rc < 0)
		json_write_string(w, "");
	else
		json_write_stringn(w, b.data, b.len);
	bw_buf_fini(&b);
}

int waf_tx_audit_json(const struct waf_tx *tx, struct bw_buf *out,
		      bool include_bodies)
{
	struct json_writer w;
	json_writer_init(&w, out);
	char ts[64];
	time_t t = (time_t)(tx->start_ns / 1000000000);
	struct tm tm;
	gmtime_r(&t, &tm);
	if (strftime(ts, sizeof(ts), "%a %b %e %H:%M:%S %Y", &tm) == 0)
		ts[0] = 0;

	json_write_object_begin(&w);
	json_write_key(&w, "transaction");
	json_write_object_begin(&w);
	kv_strn(&w, "client_ip", tx->scal[WAF_VAR_REMOTE_ADDR]);
	kv_str(&w, "time_stamp", ts);
	kv_str(&w, "server_id", "bulwark");
	json_write_key(&w, "client_port");
	json_write_int(&w, waf_atoi(tx->scal[WAF_VAR_REMOTE_PORT]));
	kv_strn(&w, "host_ip", tx->scal[WAF_VAR_SERVER_ADDR]);
	json_write_key(&w, "host_port");
	json_write_int(&w, waf_atoi(tx->scal[WAF_VAR_SERVER_PORT]));
	kv_str(&w, "unique_id", tx->id);

	json_write_key(&w, "request");
	json_write_object_begin(&w);
	kv_strn(&w, "method", tx->method);
	/* v3 writes the version as a number (1.1) */
	json_write_key(&w, "http_version");
	const char *slash = tx->proto.p ? memchr(tx->proto.p, '/', tx->proto.len)
					: NULL;
	json_write_double(&w, slash ? strtod(slash + 1, NULL) : 0.0);
	kv_strn(&w, "uri", tx->uri_raw);
	json_write_key(&w, "headers");
	headers(&w, &tx->col[WAF_VAR_REQUEST_HEADERS]);
	if (include_bodies)
		kv_strn(&w, "body", bw_str_make(tx->reqbody.data, tx->reqbody.len));
	json_write_object_end(&w);

	json_write_key(&w, "response");
	json_write_object_begin(&w);
	int code = tx->disrupted && tx->dec.status ? tx->dec.status : tx->status;
	json_write_key(&w, "http_code");
	json_write_int(&w, code);
	json_write_key(&w, "headers");
	headers(&w, &tx->col[WAF_VAR_RESPONSE_HEADERS]);
	if (include_bodies)
		kv_strn(&w, "body", bw_str_make(tx->resbody.data, tx->resbody.len));
	json_write_object_end(&w);

	json_write_key(&w, "producer");
	json_write_object_begin(&w);
	kv_str(&w, "modsecurity", "bulwark " BULWARK_VERSION
				  " (SecLang engine, ModSecurity v3 compatible)");
	kv_str(&w, "connector", "bulwark");
	kv_str(&w, "secrules_engine",
	       tx->engine == WAF_ENGINE_ON ? "Enabled"
	       : tx->engine == WAF_ENGINE_DETECTION_ONLY ? "DetectionOnly"
							 : "Disabled");
	json_write_key(&w, "components");
	json_write_array_begin(&w);
	const struct waf_settings *s = &tx->rs->settings;
	for (size_t i = 0; i < s->n_component_signatures; i++)
		json_write_string(&w, s->component_signatures[i]);
	json_write_array_end(&w);
	json_write_object_end(&w);

	json_write_key(&w, "messages");
	json_write_array_begin(&w);
	for (size_t i = 0; i < tx->nmatches; i++) {
		const struct waf_match *m = &tx->matches[i].pub;
		if (!m->logged)
			continue;
		json_write_object_begin(&w);
		kv_str(&w, "message", m->msg);
		json_write_key(&w, "details");
		json_write_object_begin(&w);
		match_text(&w, &tx->matches[i]);
		kv_str(&w, "reference", m->tfns);
		num_str(&w, "ruleId", (long long)m->rule_id);
		kv_str(&w, "file", m->file);
		num_str(&w, "lineNumber", (long long)m->line);
		kv_str(&w, "data", m->logdata);
		num_str(&w, "severity", m->severity < 0 ? 0 : m->severity);
		kv_str(&w, "ver", m->ver);
		kv_str(&w, "rev", m->rev);
		json_write_key(&w, "tags");
		json_write_array_begin(&w);
		for (size_t k = 0; k < m->ntags; k++)
			json_write_string(&w, m->tags[k]);
		json_write_array_end(&w);
		num_str(&w, "maturity", m->maturity < 0 ? 0 : m->maturity);
		num_str(&w, "accuracy", m->accuracy < 0 ? 0 : m->accuracy);
		json_write_object_end(&w);
		json_write_object_end(&w);
	}
	json_write_array_end(&w);
	json_write_object_end(&w); /* transaction */
	json_write_object_end(&w);
	return json_writer_finish(&w);
}
