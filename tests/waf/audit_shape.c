/*
 * audit_shape — the JSON audit log bulwark writes has the shape
 * libmodsecurity3 writes. Both engines (libmodsecurity3 linked only by this
 * test driver) load the same rules with "SecAuditEngine On", "SecAuditLog
 * FILE", "SecAuditLogFormat JSON" and the same parts, run the same blocked
 * request (a rule with msg, logdata, severity, tags, ver, rev, maturity,
 * accuracy, then a deny), and write their own audit log files. The driver
 * then walks libmodsecurity's entry and checks that every key path exists
 * in bulwark's entry with the same JSON type, and that the values both
 * must agree on (ids, rule ids, messages, severity, tags, method, URI,
 * status, addresses) are equal. Prints every difference; exit 1 on any.
 *
 *   audit_shape TMPDIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <modsecurity/intervention.h>
#include <modsecurity/modsecurity.h>
#include <modsecurity/rules_set.h>
#include <modsecurity/transaction.h>

#include "json/json.h"
#include "waf/waf.h"

static const char rules_fmt[] =
	"SecRuleEngine On\n"
	"SecRequestBodyAccess On\n"
	"SecAuditEngine On\n"
	"SecAuditLogType Serial\n"
	"SecAuditLogFormat JSON\n"
	"SecAuditLogParts ABFHZ\n"
	"SecAuditLog %s\n"
	"SecComponentSignature \"OWASP_CRS/3.3.4\"\n"
	"SecRule ARGS \"@rx union\\s+select\" \"id:942999,phase:2,pass,log,"
	"t:none,t:urlDecodeUni,t:lowercase,msg:'SQL Injection Attack',"
	"logdata:'Matched Data: %%{TX.0} found within %%{MATCHED_VAR_NAME}',"
	"capture,severity:'CRITICAL',tag:'attack-sqli',tag:'paranoia-level/1',"
	"ver:'OWASP_CRS/3.3.4',rev:'2',maturity:'9',accuracy:'8',"
	"setvar:tx.score=+5\"\n"
	"SecRule TX:score \"@ge 5\" \"id:949999,phase:2,deny,status:403,log,"
	"msg:'Inbound Anomaly Score Exceeded (Total Score: %%{TX.score})',"
	"severity:'CRITICAL',tag:'anomaly-evaluation'\"\n";

static const char *uri = "/search?q=1%20UNION%20SELECT%20password%20FROM%20users";

static void ms_log(void *data, const void *msg)
{
	(void)data;
	(void)msg;
}

static int run_modsec(const char *rules)
{
	ModSecurity *ms = msc_init();
	msc_set_connector_info(ms, "bulwark-audit-shape");
	msc_set_log_cb(ms, ms_log);
	RulesSet *rs = msc_create_rules_set();
	const char *err = NULL;
	if (msc_rules_add(rs, rules, &err) < 0) {
		fprintf(stderr, "modsecurity rules: %s\n", err ? err : "?");
		return -1;
	}
	Transaction *t = msc_new_transaction(ms, rs, NULL);
	msc_process_connection(t, "192.0.2.10", 40000, "192.0.2.1", 8443);
	msc_process_uri(t, uri, "GET", "1.1");
	msc_add_request_header(t, (const unsigned char *)"Host",
			       (const unsigned char *)"shop.example");
	msc_add_request_header(t, (const unsigned char *)"User-Agent",
			       (const unsigned char *)"curl/8");
	msc_process_request_headers(t);
	msc_process_request_body(t);
	ModSecurityIntervention it = { 200, 0, NULL, NULL, 0 };
	int status = 200;
	if (msc_intervention(t, &it) && it.disruptive)
		status = it.status;
	free(it.url);
	free(it.log);
	msc_process_response_headers(t, status, "HTTP 1.1");
	msc_process_logging(t);
	msc_transaction_cleanup(t);
	msc_rules_cleanup(rs);
	msc_cleanup(ms);
	return 0;
}

static int run_bulwark(const char *rules)
{
	struct waf_ruleset *rs = NULL;
	struct bw_err err;
	if (waf_ruleset_load_buffer("shape.conf", rules, strlen(rules), NULL, &rs,
				    &err) < 0 ||
	    waf_ruleset_audit_log_open(rs, NULL, &err) != 1) {
		fprintf(stderr, "bulwark: %s\n", err.msg);
		return -1;
	}
	struct waf_tx_opts o = { .mode = WAF_MODE_BLOCK, .client_ip = "192.0.2.10",
				 .client_port = 40000, .server_ip = "192.0.2.1",
				 .server_port = 8443 };
	struct waf_tx *tx = waf_tx_new(rs, &o, &err);
	struct waf_decision d;
	int rc = !tx ? -1 : 0;
	if (rc == 0)
		rc = waf_tx_request_line(tx, "GET", 3, uri, strlen(uri), "HTTP/1.1", 8);
	if (rc == 0)
		rc = waf_tx_request_header(tx, "Host", 4, "shop.example", 12);
	if (rc == 0)
		rc = waf_tx_request_header(tx, "User-Agent", 10, "curl/8", 6);
	if (rc == 0)
		rc = waf_tx_process_request_headers(tx, &d);
	if (rc == 0)
		rc = waf_tx_process_request_body(tx, &d);
	if (rc == 0)
		rc = waf_tx_response_status(tx, d.verdict == WAF_DENY ? d.status : 200,
					    "HTTP/1.1", 8);
	if (rc == 0)
		rc = waf_tx_process_response_headers(tx, &d);
	if (rc == 0)
		rc = waf_tx_process_logging(tx);
	waf_tx_free(tx);
	waf_ruleset_free(rs); /* flushes the log */
	return rc;
}

static const struct json_value *read_entry(struct bw_arena *a, const char *path)
{
	size_t len;
	struct bw_err err;
	char *text = bw_file_read(path, 1 << 20, &len, &err);
	if (!text) {
		fprintf(stderr, "%s: %s\n", path, err.msg);
		return NULL;
	}
	/* one entry per line: take the first */
	char *nl = memchr(text, '\n', len);
	size_t n = nl ? (size_t)(nl - text) : len;
	struct json_limits lim = { .dup = JSON_DUP_LAST };
	const struct json_value *v = json_parse(a, text, n, &lim, &err);
	if (!v)
		fprintf(stderr, "%s: not JSON: %s\n", path, err.msg);
	free(text);
	return v;
}

static int diffs;

static const char *type_name(enum json_type t)
{
	switch (t) {
	case JSON_NULL: return "null";
	case JSON_FALSE:
	case JSON_TRUE: return "bool";
	case JSON_NUMBER: return "number";
	case JSON_STRING: return "string";
	case JSON_ARRAY: return "array";
	case JSON_OBJECT: return "object";
	}
	return "?";
}

/* Every key path of m (libmodsecurity) exists in b with the same type.
 * Headers are data, not shape: only their container is compared. */
static void compare(const char *path, const struct json_value *m,
		    const struct json_value *b)
{
	if (!b) {
		printf("missing in bulwark: %s (%s)\n", path, type_name(m->type));
		diffs++;
		return;
	}
	bool mb = m->type == JSON_TRUE || m->type == JSON_FALSE;
	bool bb = b->type == JSON_TRUE || b->type == JSON_FALSE;
	if (m->type != b->type && !(mb && bb)) {
		printf("type differs at %s: modsecurity %s, bulwark %s\n", path,
		       type_name(m->type), type_name(b->type));
		diffs++;
		return;
	}
	if (m->type == JSON_OBJECT && !strstr(path, "headers")) {
		for (size_t i = 0; i < m->u.obj.n; i++) {
			const char *k = m->u.obj.members[i].key.p;
			char sub[512];
			snprintf(sub, sizeof(sub), "%s.%s", path, k);
			compare(sub, m->u.obj.members[i].value, json_get(b, k));
		}
		for (size_t i = 0; i < b->u.obj.n; i++)
			if (!json_get(m, b->u.obj.members[i].key.p))
				printf("note: bulwark adds %s.%s\n", path,
				       b->u.obj.members[i].key.p);
	} else if (m->type == JSON_ARRAY && m->u.arr.n && b->u.arr.n &&
		   m->u.arr.items[0]->type == JSON_OBJECT) {
		char sub[512];
		snprintf(sub, sizeof(sub), "%s[0]", path);
		compare(sub, m->u.arr.items[0], b->u.arr.items[0]);
	}
}

static const struct json_value *at(const struct json_value *v, const char *dotted)
{
	const char *k = dotted;
	while (k && *k && v) {
		const char *dot = strchr(k, '.');
		char key[128];
		size_t n = dot ? (size_t)(dot - k) : strlen(k);
		if (n >= sizeof(key))
			return NULL;
		memcpy(key, k, n);
		key[n] = 0;
		if (key[0] >= '0' && key[0] <= '9') {
			size_t i = (size_t)strtoul(key, NULL, 10);
			v = v->type == JSON_ARRAY && i < v->u.arr.n ? v->u.arr.items[i] : NULL;
		} else {
			v = json_get(v, key);
		}
		k = dot ? dot + 1 : NULL;
	}
	return v;
}

static void same_value(const struct json_value *m, const struct json_value *b,
		       const char *path)
{
	const struct json_value *x = at(m, path), *y = at(b, path);
	char mx[256] = "", by[256] = "";
	if (x && x->type == JSON_STRING)
		snprintf(mx, sizeof(mx), "%s", x->u.str.p);
	else if (x && x->type == JSON_NUMBER)
		snprintf(mx, sizeof(mx), "%g", x->u.num.d);
	if (y && y->type == JSON_STRING)
		snprintf(by, sizeof(by), "%s", y->u.str.p);
	else if (y && y->type == JSON_NUMBER)
		snprintf(by, sizeof(by), "%g", y->u.num.d);
	if (!x || !y || strcmp(mx, by) != 0) {
		printf("value differs at %s: modsecurity '%s', bulwark '%s'\n", path, mx, by);
		diffs++;
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: audit_shape TMPDIR\n");
		return 2;
	}
	char mpath[512], bpath[512], rules[4096];
	snprintf(mpath, sizeof(mpath), "%s/modsecurity-audit.json", argv[1]);
	snprintf(bpath, sizeof(bpath), "%s/bulwark-audit.json", argv[1]);
	unlink(mpath);
	unlink(bpath);
	snprintf(rules, sizeof(rules), rules_fmt, mpath);
	if (run_modsec(rules) < 0)
		return 2;
	snprintf(rules, sizeof(rules), rules_fmt, bpath);
	if (run_bulwark(rules) < 0)
		return 2;
	struct bw_arena *a = bw_arena_new(1 << 16, 1 << 24);
	const struct json_value *m = read_entry(a, mpath), *b = read_entry(a, bpath);
	if (!m || !b)
		return 2;
	compare("$", m, b);
	static const char *const same[] = {
		"transaction.client_ip", "transaction.client_port",
		"transaction.host_ip", "transaction.host_port",
		"transaction.request.method", "transaction.request.uri",
		"transaction.request.http_version", "transaction.response.http_code",
		"transaction.producer.secrules_engine",
		/* not components.0: v3 keeps SecComponentSignature's closing
		 * quote ("OWASP_CRS/3.3.4\""), a v3 quirk bulwark does not copy */
		"transaction.messages.0.details.match",
		"transaction.messages.0.message",
		"transaction.messages.0.details.ruleId",
		"transaction.messages.0.details.data",
		"transaction.messages.0.details.severity",
		"transaction.messages.0.details.ver",
		"transaction.messages.0.details.rev",
		"transaction.messages.0.details.maturity",
		"transaction.messages.0.details.accuracy",
		"transaction.messages.0.details.tags.0",
		"transaction.messages.0.details.tags.1",
		"transaction.messages.0.details.lineNumber",
		"transaction.messages.1.details.ruleId",
		"transaction.messages.1.message",
	};
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++)
		same_value(m, b, same[i]);
	size_t nm = at(m, "transaction.messages") ? at(m, "transaction.messages")->u.arr.n : 0;
	size_t nb = at(b, "transaction.messages") ? at(b, "transaction.messages")->u.arr.n : 0;
	if (nm != nb) {
		printf("messages: modsecurity %zu, bulwark %zu\n", nm, nb);
		diffs++;
	}
	bw_arena_free(a);
	printf("audit log shape: %d difference(s)\n", diffs);
	return diffs ? 1 : 0;
}
