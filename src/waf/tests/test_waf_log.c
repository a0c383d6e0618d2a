/*
 * The WAF's attack logging: the JSON audit log file (SecAuditEngine On /
 * RelevantOnly / Off, relative SecAuditLog paths, bodies only with parts C
 * or E, one JSON object per line, the file shared by rule-set generations
 * that name it, counters), the explain documents (per-rule scores that add
 * up to the anomaly total, transformations, cut values) and the explain
 * ring (lookup by id, newest first, oldest overwritten, list).
 */
#include "waf_test_util.h"
#include "json/json.h"

#include <stdlib.h>
#include <unistd.h>

static char tmpdir[64];

static int setup(void **s)
{
	(void)s;
	(void)bw_snprintf(tmpdir, sizeof(tmpdir), "/tmp/waflogXXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **s)
{
	(void)s;
	char cmd[128];
	(void)bw_snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Two scoring rules in the CRS's style and a blocking one. */
#define SCORING                                                                \
	"SecRule ARGS \"@rx attack\" \"id:10,phase:2,pass,log,t:none,t:lowercase,"   \
	"msg:'attack word',logdata:'%{MATCHED_VAR}',severity:2,tag:'attack-x',"  \
	"setvar:tx.anomaly_score_pl1=+5\"\n"                                     \
	"SecRule ARGS:b \"@contains evil\" \"id:11,phase:2,pass,log,"            \
	"msg:'evil',severity:4,setvar:tx.anomaly_score_pl1=+3\"\n"               \
	"SecRule ARGS \"@rx quiet\" \"id:12,phase:2,pass,nolog\"\n"              \
	"SecAction \"id:19,phase:2,pass,nolog,"                                  \
	"setvar:tx.anomaly_score=%{tx.anomaly_score_pl1}\"\n"                    \
	"SecRule TX:anomaly_score \"@ge 5\" \"id:20,phase:2,deny,status:403,log,"\
	"msg:'score %{tx.anomaly_score}'\"\n"

static struct waf_ruleset *load_with(const char *head)
{
	char text[4096];
	assert_true(bw_snprintf(text, sizeof(text), "SecRuleEngine On\n"
				"SecRequestBodyAccess On\n%s%s", head, SCORING) > 0);
	struct waf_ruleset *rs = NULL;
	struct bw_err err = { 0 };
	char base[96];
	(void)bw_snprintf(base, sizeof(base), "%s", tmpdir);
	struct waf_load_opts o = { .base_dir = base };
	if (waf_ruleset_load_buffer("log.conf", text, strlen(text), &o, &rs, &err) != 0) {
		print_error("load: %s\n", err.msg);
		fail();
	}
	return rs;
}

static struct waf_tx *run(const struct waf_ruleset *rs, const char *id,
			  const char *uri, const char *body)
{
	struct bw_err err;
	struct waf_tx_opts o = { .mode = WAF_MODE_BLOCK, .client_ip = "192.0.2.7",
				 .client_port = 4242, .server_ip = "192.0.2.1",
				 .server_port = 443, .unique_id = id };
	struct waf_tx *tx = waf_tx_new(rs, &o, &err);
	assert_non_null(tx);
	const char *m = body ? "POST" : "GET";
	assert_int_equal(waf_tx_request_line(tx, m, strlen(m), uri, strlen(uri),
					     "HTTP/1.1", 8), 0);
	assert_int_equal(waf_tx_request_header(tx, "Host", 4, "shop.example", 12), 0);
	struct waf_decision d;
	if (body) {
		const char *ct = "application/x-www-form-urlencoded";
		assert_int_equal(waf_tx_request_header(tx, "Content-Type", 12, ct,
						       strlen(ct)), 0);
	}
	assert_int_equal(waf_tx_process_request_headers(tx, &d), 0);
	if (body)
		assert_int_equal(waf_tx_append_request_body(tx, body, strlen(body)), 0);
	assert_int_equal(waf_tx_process_request_body(tx, &d), 0);
	int status = d.verdict == WAF_DENY ? d.status : 200;
	assert_int_equal(waf_tx_response_status(tx, status, "HTTP/1.1", 8), 0);
	assert_int_equal(waf_tx_process_response_headers(tx, &d), 0);
	assert_int_equal(waf_tx_process_response_body(tx, &d), 0);
	assert_int_equal(waf_tx_process_logging(tx), 0);
	return tx;
}

/* Reads the log file into lines of parsed JSON (arena a). */
static size_t read_log(const char *path, struct bw_arena *a,
		       const struct json_value **out, size_t max)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	char *line = NULL;
	size_t cap = 0, n = 0;
	ssize_t len;
	while ((len = getline(&line, &cap, f)) > 0 && n < max) {
		struct bw_err err;
		out[n] = json_parse(a, line, (size_t)len, NULL, &err);
		assert_non_null(out[n]);
		n++;
	}
	free(line);
	fclose(f);
	return n;
}

static void test_audit_relevant_only(void **s)
{
	(void)s;
	char path[128];
	(void)bw_snprintf(path, sizeof(path), "%s/relevant.json", tmpdir);
	/* relative: next to the rule file (base_dir here) */
	struct waf_ruleset *rs = load_with("SecAuditEngine RelevantOnly\n"
					   "SecAuditLogParts ABFHZ\n"
					   "SecAuditLog relevant.json\n");
	struct bw_err err;
	assert_int_equal(waf_ruleset_audit_log_open(rs, NULL, &err), 1);
	waf_tx_free(run(rs, "benign-1", "/p?a=hello", NULL));
	waf_tx_free(run(rs, "attack-1", "/p?a=ATTACK&b=evil", NULL));
	waf_tx_free(run(rs, "quiet-1", "/p?a=quiet", NULL)); /* nolog match only */
	struct waf_audit_stats st;
	waf_ruleset_audit_stats(rs, &st);
	assert_int_equal(st.skipped, 2);
	waf_ruleset_free(rs); /* flushes */

	struct bw_arena *a = bw_arena_new(1 << 16, 1 << 24);
	const struct json_value *l[8];
	assert_int_equal(read_log(path, a, l, 8), 1);
	const struct json_value *t = json_get(l[0], "transaction");
	assert_non_null(t);
	assert_string_equal(json_get_str(t, "unique_id", ""), "attack-1");
	assert_string_equal(json_get_str(t, "client_ip", ""), "192.0.2.7");
	assert_int_equal(json_get_int(t, "client_port", 0), 4242);
	assert_string_equal(json_get_str(t, "host_ip", ""), "192.0.2.1");
	assert_int_equal(json_get_int(t, "host_port", 0), 443);
	const struct json_value *rq = json_get(t, "request");
	assert_string_equal(json_get_str(rq, "method", ""), "GET");
	assert_string_equal(json_get_str(rq, "uri", ""), "/p?a=ATTACK&b=evil");
	assert_null(json_get(rq, "body")); /* no part C */
	assert_string_equal(json_get_str(json_get(rq, "headers"), "Host", ""),
			    "shop.example");
	assert_int_equal(json_get_int(json_get(t, "response"), "http_code", 0), 403);
	assert_string_equal(json_get_str(json_get(t, "producer"), "secrules_engine", ""),
			    "Enabled");
	const struct json_value *ms = json_get(t, "messages");
	assert_non_null(ms);
	assert_int_equal(ms->type, JSON_ARRAY);
	/* 10, 11 and the deny 20, never the nolog 12 */
	assert_int_equal(ms->u.arr.n, 3);
	const struct json_value *d0 = json_get(ms->u.arr.items[0], "details");
	assert_string_equal(json_get_str(d0, "ruleId", ""), "10");
	assert_string_equal(json_get_str(d0, "severity", ""), "2");
	assert_string_equal(json_get_str(d0, "file", ""), "log.conf");
	assert_string_equal(json_get_str(d0, "data", ""), "attack"); /* MATCHED_VAR: transformed, as v3 */
	assert_string_equal(json_get_str(ms->u.arr.items[0], "message", ""), "attack word");
	bw_arena_free(a);
}

static void test_audit_on_bodies_and_off(void **s)
{
	(void)s;
	char path[128];
	(void)bw_snprintf(path, sizeof(path), "%s/all.json", tmpdir);
	struct waf_ruleset *rs = load_with("SecAuditEngine On\n"
					   "SecAuditLogParts ABCFHZ\n");
	struct bw_err err;
	/* an override path (the gateway may name the file itself) */
	assert_int_equal(waf_ruleset_audit_log_open(rs, path, &err), 1);
	/* the same file named by a second generation: shared, not reopened */
	struct waf_ruleset *rs2 = load_with("SecAuditEngine On\n");
	assert_int_equal(waf_ruleset_audit_log_open(rs2, path, &err), 1);
	waf_tx_free(run(rs, "on-1", "/p", "a=hello+world"));
	waf_ruleset_free(rs);
	waf_tx_free(run(rs2, "on-2", "/q", NULL));
	waf_ruleset_free(rs2);
	struct bw_arena *a = bw_arena_new(1 << 16, 1 << 24);
	const struct json_value *l[8];
	assert_int_equal(read_log(path, a, l, 8), 2);
	const struct json_value *rq = json_get(json_get(l[0], "transaction"), "request");
	assert_string_equal(json_get_str(rq, "body", ""), "a=hello+world");
	assert_string_equal(json_get_str(json_get(l[1], "transaction"), "unique_id", ""),
			    "on-2");
	bw_arena_free(a);

	/* Off (or no SecAuditLog): nothing is opened */
	struct waf_ruleset *off = load_with("SecAuditEngine Off\nSecAuditLog x.json\n");
	assert_int_equal(waf_ruleset_audit_log_open(off, NULL, &err), 0);
	waf_ruleset_free(off);
	struct waf_ruleset *none = load_with("SecAuditEngine On\n");
	assert_int_equal(waf_ruleset_audit_log_open(none, NULL, &err), 0);
	waf_ruleset_free(none);
}

static void test_audit_open_errors(void **s)
{
	(void)s;
	struct waf_ruleset *rs = load_with("SecAuditEngine On\n");
	struct bw_err err;
	assert_int_equal(waf_ruleset_audit_log_open(rs, "/nonexistent-dir/x/a.json", &err), -1);
	assert_non_null(strstr(err.msg, "/nonexistent-dir/x/a.json"));
	waf_ruleset_free(rs);
	/* a piped log is refused at load, naming file and line */
	struct waf_ruleset *bad = NULL;
	const char *t = "SecAuditEngine On\nSecAuditLog \"|/usr/bin/mlogc\"\n";
	assert_int_equal(waf_ruleset_load_buffer("p.conf", t, strlen(t), NULL, &bad, &err), -1);
	assert_non_null(strstr(err.msg, "p.conf:2"));
	assert_null(bad);
}

static void test_explain_document(void **s)
{
	(void)s;
	struct waf_ruleset *rs = load_with("");
	char *longval = malloc(2000);
	assert_non_null(longval);
	memcpy(longval, "/p?a=attack", 11);
	memset(longval + 11, 'x', 1500);
	longval[1511] = 0;
	struct waf_tx *tx = run(rs, "ex-1", longval, NULL);
	struct bw_buf b;
	bw_buf_init(&b, 1 << 20);
	assert_int_equal(waf_tx_explain_json(tx, "shop", "block", &b), 0);
	struct bw_arena *a = bw_arena_new(1 << 16, 1 << 24);
	struct bw_err err;
	const struct json_value *d = json_parse(a, b.data, b.len, NULL, &err);
	if (!d)
		print_error("%s\n%.*s\n", err.msg, (int)b.len, b.data);
	assert_non_null(d);
	assert_string_equal(json_get_str(d, "request_id", ""), "ex-1");
	assert_string_equal(json_get_str(d, "route", ""), "shop");
	assert_string_equal(json_get_str(d, "verdict", ""), "deny");
	assert_int_equal(json_get_int(d, "status", 0), 403);
	assert_int_equal(json_get_int(d, "decided_by", 0), 20);
	assert_int_equal(json_get_int(json_get(d, "scores"), "anomaly_score", 0), 5);
	const struct json_value *ms = json_get(d, "matches");
	assert_int_equal(ms->u.arr.n, 2); /* 10 and 20; 19 is silent */
	const struct json_value *m = ms->u.arr.items[0];
	assert_int_equal(json_get_int(m, "rule_id", 0), 10);
	assert_int_equal(json_get_int(m, "score", 0), 5);
	assert_string_equal(json_get_str(m, "variable", ""), "ARGS:a");
	/* the value is cut to WAF_EXPLAIN_VALUE_MAX and says so */
	assert_int_equal(strlen(json_get_str(m, "value", "")), WAF_EXPLAIN_VALUE_MAX);
	assert_true(json_get_bool(m, "value_truncated", false));
	const struct json_value *tf = json_get(m, "transformations");
	assert_int_equal(tf->u.arr.n, 1); /* t:none only resets the chain */
	assert_string_equal(tf->u.arr.items[0]->u.str.p, "lowercase");
	assert_string_equal(json_get_str(m, "operator", ""), "rx");
	assert_true(json_get_bool(ms->u.arr.items[1], "disruptive", false));
	assert_int_equal(json_get_int(d, "silent_matches", 0), 1);
	bw_arena_free(a);
	bw_buf_fini(&b);
	waf_tx_free(tx);
	free(longval);
	waf_ruleset_free(rs);
}

static void test_explain_ring(void **s)
{
	(void)s;
	struct waf_ruleset *rs = load_with("");
	waf_explain_configure(2);
	struct waf_tx *t1 = run(rs, "r-1", "/p?a=attack", NULL);
	struct waf_tx *t2 = run(rs, "r-2", "/p?b=evil", NULL); /* flagged, passes */
	struct waf_tx *t3 = run(rs, "r-3", "/p?a=attack", NULL);
	struct waf_tx *tb = run(rs, "r-benign", "/p?a=fine", NULL);
	assert_int_equal(waf_explain_record(t1, "r", "block"), 1);
	assert_int_equal(waf_explain_record(t2, "r", "block"), 1);
	assert_int_equal(waf_explain_record(tb, "r", "block"), 0); /* nothing to explain */
	struct bw_buf b;
	bw_buf_init(&b, 1 << 20);
	assert_int_equal(waf_explain_get("r-1", &b), 1);
	assert_non_null(strstr(b.data, "\"request_id\":\"r-1\""));
	assert_int_equal(waf_explain_record(t3, "r", "block"), 1); /* r-1 falls out */
	bw_buf_reset(&b);
	assert_int_equal(waf_explain_get("r-1", &b), 0);
	assert_int_equal(waf_explain_get("r-2", &b), 1);
	assert_non_null(strstr(b.data, "\"verdict\":\"pass\""));
	bw_buf_reset(&b);
	assert_int_equal(waf_explain_list(10, &b), 0);
	/* newest first */
	char *p3 = strstr(b.data, "r-3"), *p2 = strstr(b.data, "r-2");
	assert_non_null(p3);
	assert_non_null(p2);
	assert_true(p3 < p2);
	bw_buf_reset(&b);
	assert_int_equal(waf_explain_list(1, &b), 0);
	assert_null(strstr(b.data, "r-2"));
	/* a ceiling too small for the document is an error, not a cut */
	struct bw_buf small;
	bw_buf_init(&small, 16);
	assert_int_equal(waf_explain_get("r-3", &small), -1);
	bw_buf_fini(&small);
	bw_buf_fini(&b);
	waf_tx_free(t1);
	waf_tx_free(t2);
	waf_tx_free(t3);
	waf_tx_free(tb);
	waf_explain_configure(0);
	waf_ruleset_free(rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_audit_relevant_only),
		cmocka_unit_test(test_audit_on_bodies_and_off),
		cmocka_unit_test(test_audit_open_errors),
		cmocka_unit_test(test_explain_document),
		cmocka_unit_test(test_explain_ring),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
