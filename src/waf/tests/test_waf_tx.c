/*
 * Engine tests: how a transaction populates variables from the request
 * line and headers, every operator, the actions (setvar, chains, capture,
 * multiMatch, skip/skipAfter, ctl exclusions, disruptive actions, modes),
 * phase behaviour, the explain records and the JSON audit entry, and
 * fail-closed behaviour when a transaction runs out of memory.
 */
#include <stdlib.h>
#include <sys/stat.h>

#include "waf_test_util.h"
#include "json/json.h"

/* ------------------------------------------------------------ variables */

static void test_request_line_vars(void **s)
{
	(void)s;
	struct waf_ruleset *rs = load_rules(ENGINE_ON
		"SecAction \"id:1,phase:1,pass,nolog,"
		"setvar:tx.fn=%{REQUEST_FILENAME},setvar:tx.bn=%{REQUEST_BASENAME},"
		"setvar:tx.qs=%{QUERY_STRING},setvar:tx.uri=%{REQUEST_URI},"
		"setvar:tx.raw=%{REQUEST_URI_RAW},setvar:tx.line=%{REQUEST_LINE},"
		"setvar:tx.proto=%{REQUEST_PROTOCOL},setvar:tx.m=%{REQUEST_METHOD},"
		"setvar:tx.a=%{ARGS.a},setvar:tx.b=%{ARGS_GET.B},"
		"setvar:tx.addr=%{REMOTE_ADDR},setvar:tx.port=%{SERVER_PORT},"
		"setvar:tx.rport=%{REMOTE_PORT},"
		"setvar:tx.host=%{SERVER_NAME},setvar:tx.id=%{UNIQUE_ID}\"\n");
	struct treq r = { .uri = "/dir/my%20file.php?a=1+2&b=%3Cx%3E&c",
			  .headers = { { "Host", "example.com:8443" } } };
	struct waf_tx *tx = run_req(rs, &r, NULL);
	assert_string_equal(txvar(tx, "TX", "fn"), "/dir/my file.php");
	assert_string_equal(txvar(tx, "TX", "bn"), "my file.php");
	assert_string_equal(txvar(tx, "TX", "qs"), "a=1+2&b=%3Cx%3E&c");
	assert_string_equal(txvar(tx, "TX", "uri"), "/dir/my file.php?a=1+2&b=<x>&c");
	assert_string_equal(txvar(tx, "TX", "raw"), "/dir/my%20file.php?a=1+2&b=%3Cx%3E&c");
	assert_string_equal(txvar(tx, "TX", "line"),
			    "GET /dir/my%20file.php?a=1+2&b=%3Cx%3E&c HTTP/1.1");
	assert_string_equal(txvar(tx, "TX", "proto"), "HTTP/1.1");
	assert_string_equal(txvar(tx, "TX", "m"), "GET");
	assert_string_equal(txvar(tx, "TX", "a"), "1 2");      /* '+' decoded */
	assert_string_equal(txvar(tx, "TX", "b"), "<x>");      /* names: any case */
	assert_string_equal(txvar(tx, "TX", "addr"), "10.1.2.3");
	assert_string_equal(txvar(tx, "TX", "port"), "443");
	assert_string_equal(txvar(tx, "TX", "rport"), "5555");
	assert_string_equal(txvar(tx, "TX", "host"), "example.com");
	assert_string_equal(txvar(tx, "TX", "id"), "test-1");
	assert_string_equal(txvar(tx, "ARGS", "c"), "");        /* no '=' */
	/* a + "1 2", b + "<x>", c + "" */
	assert_string_equal(txvar(tx, "ARGS_COMBINED_SIZE", NULL), "9");
	waf_tx_free(tx);
	waf_ruleset_free(rs);
}

static void test_absolute_uri_and_cookies(void **s)
{
	(void)s;
	struct waf_ruleset *rs = load_rules(ENGINE_ON
		"SecRule &REQUEST_COOKIES \"@eq 3\" \"id:1,phase:1,pass\"\n"
		"SecRule REQUEST_COOKIES_NAMES \"@streq spaced\" \"id:2,phase:1,pass\"\n"
		"SecRule REQUEST_HEADERS:user-agent \"@contains curl\" \"id:3,phase:1,pass\"\n"
		"SecRule &REQUEST_HEADERS:X-Missing \"@eq 0\" \"id:4,phase:1,pass\"\n"
		"SecRule REQUEST_URI \"@streq /p\" \"id:5,phase:1,pass\"\n"
		"SecRule AUTH_TYPE \"@streq Basic\" \"id:6,phase:1,pass\"\n");
	struct treq r = { .uri = "http://h.example/p",
			  .headers = { { "Cookie", "a=1; ;  spaced=x=y;b; =v " },
				       { "User-Agent", "curl/8" },
				       { "Authorization", "Basic Zm9vOmJhcg==" } } };
	struct waf_tx *tx = run_req(rs, &r, NULL);
	assert_true(matched(tx, 1)); /* a, spaced, b; the empty name is skipped */
	assert_true(matched(tx, 2));
	assert_string_equal(txvar(tx, "REQUEST_COOKIES", "spaced"), "x=y");
	assert_true(matched(tx, 3));
	assert_true(matched(tx, 4));
	assert_true(matched(tx, 5));
	assert_true(matched(tx, 6));
	waf_tx_free(tx);
	waf_ruleset_free(rs);
}

static void test_selectors_and_exclusions(void **s)
{
	(void)s;
	struct waf_ruleset *rs = load_rules(ENGINE_ON
		"SecRule ARGS:/^id_/ \"@rx ^7$\" \"id:1,phase:1,pass\"\n"
		"SecRule ARGS|!ARGS:skip \"@streq bad\" \"id:2,phase:1,pass\"\n"
		"SecRule ARGS|!ARGS:/^sk/ \"@streq bad\" \"id:3,phase:1,pass\"\n"
		"SecRule &ARGS:/^id_/ \"@eq 2\" \"id:4,phase:1,pass\"\n"
		"SecRule ARGS_NAMES \"@streq ID_A\" \"id:5,phase:1,pass\"\n");
	struct treq r = { .uri = "/?ID_A=7&id_b=8&skip=bad" };
	struct waf_tx *tx = run_req(rs, &r, NULL);
	assert_true(matched(tx, 1));
	assert_string_equal(match_of(tx, 1)->var_name, "ARGS:ID_A");
	assert_false(matched(tx, 2)); /* the only "bad" is excluded */
	assert_false(matched(tx, 3));
	assert_true(matched(tx, 4));
	assert_true(matched(tx, 5));
	waf_tx_free(tx);
	waf_ruleset_free(rs);
}

/* ------------------------------------------------------------ operators */

struct op_case {
	const char *op;
	const char *value;
	bool match;
};

static void test_operators(void **s)
{
	(void)s;
	static const struct op_case cases[] = {
		{ "@rx ^a+b$", "aaab", true },
		{ "@rx ^a+b$", "aaac", false },
		{ "(?i)select", "SeLeCt", true },      /* @rx is the default */
		{ "!@rx x", "abc", true },
		{ "@rx \\d{3}", "ab12", false },
		{ "@pm foo bar", "xxBARxx", true },
		{ "@pm foo bar", "fo ba", false },
		{ "@streq Abc", "Abc", true },
		{ "@streq Abc", "abc", false },
		{ "@contains lo w", "hello world", true },
		{ "@containsWord cat", "a cat!", true },
		{ "@containsWord cat", "concatenate", false },
		{ "@beginsWith /adm", "/admin", true },
		{ "@endsWith .php", "x.php", true },
		{ "@endsWith .php", "x.phps", false },
		{ "@within GET POST", "POST", true },
		{ "@within GET POST", "PUT", false },
		{ "@within GET POST", "", true },   /* "" is in everything (v3) */
		{ "@eq 5", "5", true },
		{ "@eq 5", " 5abc", true },         /* leading number counts */
		{ "@eq 0", "abc", true },           /* not a number: 0 */
		{ "@gt 5", "6", true },
		{ "@ge 5", "5", true },
		{ "@lt 5", "-1", true },
		{ "@le 5", "6", false },
		{ "@validateByteRange 32-126", "plain text", false },
		{ "@validateByteRange 32-126", "tab\there", true },
		{ "@validateUrlEncoding", "a%20b", false },
		{ "@validateUrlEncoding", "a%2", true },
		{ "@validateUrlEncoding", "a%zz", true },
		{ "@validateUtf8Encoding", "caf\xc3\xa9", false },
		{ "@validateUtf8Encoding", "\xc0\xaf", true },   /* overlong */
		{ "@validateUtf8Encoding", "\xc3", true },       /* truncated */
		{ "@validateUtf8Encoding", "\xf4\x90\x80\x80", true }, /* > U+10FFFF */
		{ "@detectSQLi", "1' or '1'='1", true },
		{ "@detectSQLi", "O'Reilly", false },
		{ "@detectXSS", "<script>alert(1)</script>", true },
		{ "@detectXSS", "a < b", false },
		{ "@unconditionalMatch", "x", true },
		{ "@noMatch", "x", false },
		{ "@rbl bl.example", "1.2.3.4", false },
		{ "@verifyCC \\d{13,16}", "4111111111111111", true },
		{ "@verifyCC \\d{13,16}", "4111111111111112", false },
	};
	for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++) {
		char rules[512];
		(void)bw_snprintf(rules, sizeof(rules),
				  ENGINE_ON "SecRule ARGS:v \"%s\" \"id:1,phase:1,pass\"\n",
				  cases[i].op);
		struct waf_ruleset *rs = load_rules(rules);
		struct bw_err err;
		struct waf_tx *tx = waf_tx_new(rs, NULL, &err);
		assert_non_null(tx);
		assert_int_equal(waf_tx_request_line(tx, "GET", 3, "/", 1,
						     "HTTP/1.1", 8), 0);
		/* put the raw value in directly: no URL decoding in the way */
		assert_int_equal(waf_add_arg(tx, "GET", "v", 1, cases[i].value,
					     strlen(cases[i].value)), 0);
		struct waf_decision d;
		assert_int_equal(waf_tx_process_request_headers(tx, &d), 0);
		if (matched(tx, 1) != cases[i].match) {
			print_error("%s on \"%s\": expected %s\n", cases[i].op,
				    cases[i].value,
				    cases[i].match ? "match" : "no match");
			fail();
		}
		waf_tx_free(tx);
		waf_ruleset_free(rs);
	}
}

static void test_ipmatch(void **s)
{
	(void)s;
	struct waf_ruleset *rs = load_rules(ENGINE_ON
		"SecRule REMOTE_ADDR \"@ipMatch 10.1.0.0/16,192.168.1.1\" \"id:1,phase:1,pass\"\n"
		"SecRule REMOTE_ADDR \"@ipMatch 10.2.0.0/16,::1\" \"id:2,phase:1,pass\"\n");
	struct treq r = { .uri = "/" };
	struct waf_tx *tx = run_req(rs, &r, NULL);
	assert_true(matched(tx, 1));
	assert_false(matched(tx, 2));
	waf_tx_free(tx);
	waf_ruleset_free(rs);
}

static void test_macro_operand(void **s)
{
	(void)s;
	struct waf_ruleset *rs = load_rules(ENGINE_ON
		"SecAction \"id:1,phase:1,pass,nolog,setvar:tx.limit=3,setvar:'tx.allowed=GET HEAD'\"\n"
		"SecRule ARGS:n \"@gt %{tx.limit}\" \"id:2,phase:1,pass\"\n"
		"SecRule REQUEST_METHOD \"!@within %{tx.allowed}\" \"id:3,phase:1,pass\"\n"
		"SecRule ARGS:n \"@rx ^%{tx.limit}0$\" \"id:4,phase:1,pass\"\n");
	struct treq r = { .method = "PUT", .uri = "/?n=30" };
	struct waf_tx *tx = run_req(rs, &r, NULL);
	assert_true(matched(tx, 2));
	assert_true(matched(tx, 3));
	assert_true(matched(tx, 4)); /* regex compiled from the expanded macro */
	waf_tx_free(tx);
	waf_ruleset_free(rs);
}

/* -------------------------------------------------------------- actions */

static void test_setvar(void **s)
{
	(void)s;
	struct waf_ruleset *rs = load_rules(ENGINE_ON
		"SecAction \"id:1,phase:1,pass,nolog,setvar:tx.score=5,"
		"setvar:tx.score=+10,setvar:tx.score=-3,setvar:tx.flag,"
		"setvar:tx.gone=x,setvar:!tx.gone,setvar:'tx.msg=id %{rule.id} %{tx.score}',"
		"setvar:tx.%{tx.score}_key=dyn,setvar:tx.bad=+abc\"\n");
	struct treq r = { .uri = "/" };
	struct waf_tx *tx = run_req(rs, &r, NULL);
	assert_int_equal(waf_tx_score(tx, "score"), 12);
	assert_string_equal(txvar(tx, "TX", "flag"), "1");
	assert_null(waf_tx_var(tx, "TX", "gone"));
	assert_string_equal(txvar(tx, "TX", "msg"), "id 1 12");
	assert_string_equal(txvar(tx, "TX", "12_KEY"), "dyn"); /* any case */
	assert_int_equal(waf_tx_score(tx, "bad"), 0);
	waf_tx_free(tx);
	waf_ruleset_free(rs);
}

static void test_setvar_per_match(void **s)
{
	(void)s;
	/* ModSecurity v3 runs setvar once per matched value */
	struct waf_ruleset *rs = load_rules(ENGINE_ON
		"SecRule ARGS \"@rx evil\" \"id:1,phase:1,pass,setvar:tx.hits=+1\"\n");
	struct treq r = { .uri = "/?a=evil&b=ok&c=evil2" };
	struct waf_tx *tx = run_req(rs, &r, NULL);
	assert_int_equal(waf_tx_score(tx, "hits"), 2);
	assert_string_equal(txvar(tx, "MATCHED_VAR_NAME", NULL), "ARGS:c");
	waf_tx_free(tx);
	waf_ruleset_free(rs);
}

static void test_chain_and_capture(void **s)
{
	(void)s;
	struct waf_ruleset *rs = load_rules(ENGINE_ON
		"SecRule ARGS:q \"@rx ^(\\w+)-(\\d+)$\" \"id:1,phase:1,pass,capture,chain,"
		"setvar:tx.first=%{tx.1}\"\n"
		"  SecRule TX:2 \"@gt 10\" \"setvar:tx.ok=%{tx.2}\"\n"
		"SecRule ARGS:q \"@rx ^(\\w+)\" \"id:2,phase:1,pass,chain\"\n"
		"  SecRule ARGS:q \"@rx nomatch\" \"setvar:tx.never=1\"\n");
	struct treq r = { .uri = "/?q=abc-42" };
	struct waf_tx *tx = run_req(rs, &r, NULL);
	assert_true(matched(tx, 1));
	assert_string_equal(txvar(tx, "TX", "first"), "abc");
	assert_string_equal(txvar(tx, "TX", "ok"), "42");
	assert_false(matched(tx, 2)); /* second link fails: no match */
	assert_null(waf_tx_var(tx, "TX", "never"));
	waf_tx_free(tx);
	waf_ruleset_free(rs);
}

static void test_transformations_and_multimatch(void **s)
{
	(void)s;
	struct waf_ruleset *rs = load_rules(ENGINE_ON
		"SecRule ARGS:x \"@streq <script>\" \"id:1,phase:1,pass,t:none,t:urlDecode,t:lowercase\"\n"
		"SecRule ARGS:x \"@rx ^%3C\" \"id:2,phase:1,pass,t:none,t:urlDecode\"\n"
		"SecRule ARGS:x \"@rx ^%3C\" \"id:3,phase:1,pass,t:none,t:urlDecode,multiMatch\"\n");
	/* %253C -> the argument is "%3CSCRIPT%3E" after query decoding */
	struct treq r = { .uri = "/?x=%253CSCRIPT%253E" };
	struct waf_tx *tx = run_req(rs, &r, NULL);
	assert_true(matched(tx, 1));
	assert_string_equal(match_of(tx, 1)->tfns, "t:urlDecode,t:lowercase");
	assert_false(matched(tx, 2)); /* only the final value is tested */
	assert_true(matched(tx, 3));  /* multiMatch tests the raw value too */
	waf_tx_free(tx);
	waf_ruleset_free(rs);
}

static void test_skip_and_skipafter(void **s)
{
	(void)s;
	struct waf_ruleset *rs = load_rules(ENGINE_ON
		"SecAction \"id:1,phase:1,pass,nolog,skip:1\"\n"
		"SecAction \"id:2,phase:1,pass,nolog,setvar:tx.skipped=no\"\n"
		"SecAction \"id:3,phase:1,pass,nolog,skipAfter:END\"\n"
		"SecAction \"id:4,phase:1,pass,nolog,setvar:tx.after=no\"\n"
		"SecMarker END\n"
		"SecAction \"id:5,phase:1,pass,nolog,setvar:tx.end=yes\"\n");
	struct treq r = { .uri = "/" };
	struct waf_tx *tx = run_req(rs, &r, NULL);
	assert_null(waf_tx_var(tx, "TX", "skipped"));
	assert_null(waf_tx_var(tx, "TX", "after"));
	assert_string_equal(txvar(tx, "TX", "end"), "yes");
	waf_tx_free(tx);
	waf_ruleset_free(rs);
}

static void test_ctl_exclusions(void **s)
{
	(void)s;
	struct waf_ruleset *rs = load_rules(ENGINE_ON
		"SecRule REQUEST_FILENAME \"@streq /a\" \"id:1,phase:1,pass,nolog,"
		"ctl:ruleRemoveById=10,ctl:ruleRemoveTargetById=11;ARGS:pw,"
		"ctl:ruleRemoveByTag=t13,ctl:ruleRemoveTargetByTag=t14;ARGS:pw\"\n"
		"SecRule ARGS \"@rx x\" \"id:10,phase:1,pass\"\n"
		"SecRule ARGS \"@rx x\" \"id:11,phase:1,pass\"\n"
		"SecRule ARGS \"@rx y\" \"id:12,phase:1,pass\"\n"
		"SecRule ARGS \"@rx x\" \"id:13,phase:1,pass,tag:t13\"\n"
		"SecRule ARGS \"@rx x\" \"id:14,phase:1,pass,tag:t14\"\n");
	struct treq r = { .uri = "/a?pw=x&other=y" };
	struct waf_tx *tx = run_req(rs, &r, NULL);
	assert_false(matched(tx, 10));
	assert_false(matched(tx, 11)); /* the only x is in a removed target */
	assert_true(matched(tx, 12));
	assert_false(matched(tx, 13));
	assert_false(matched(tx, 14));
	waf_tx_free(tx);
	/* without the first rule's condition nothing is removed */
	struct treq r2 = { .uri = "/b?pw=x" };
	tx = run_req(rs, &r2, NULL);
	assert_true(matched(tx, 10));
	assert_true(matched(tx, 11));
	assert_true(matched(tx, 13));
	waf_tx_free(tx);
	waf_ruleset_free(rs);
}

static void test_disruptive(void **s)
{
	(void)s;
	struct waf_ruleset *rs = load_rules(ENGINE_ON
		"SecDefaultAction \"phase:2,log,auditlog,deny,status:418\"\n"
		"SecRule ARGS:a \"@streq deny\" \"id:1,phase:1,deny,status:401\"\n"
		"SecRule ARGS:a \"@streq drop\" \"id:2,phase:1,drop\"\n"
		"SecRule ARGS:a \"@streq redir\" \"id:3,phase:1,redirect:'https://e.example/%{ARGS.a}'\"\n"
		"SecRule ARGS:a \"@streq block\" \"id:4,phase:2,block\"\n"
		"SecRule ARGS:a \"@streq allow\" \"id:5,phase:1,allow\"\n"
		"SecRule ARGS:a \"@rx .\" \"id:6,phase:2,pass,setvar:tx.late=1\"\n");
	struct waf_decision d;
	struct treq r = { .uri = "/?a=deny" };
	struct waf_tx *tx = run_req(rs, &r, &d);
	assert_int_equal(d.verdict, WAF_DENY);
	assert_int_equal(d.status, 401);
	assert_int_equal(d.rule_id, 1);
	assert_int_equal(d.phase, 1);
	assert_null(waf_tx_var(tx, "TX", "late")); /* phase 2 never ran */
	assert_true(match_of(tx, 1)->disruptive);
	waf_tx_free(tx);

	r.uri = "/?a=drop";
	tx = run_req(rs, &r, &d);
	assert_int_equal(d.verdict, WAF_DROP);
	waf_tx_free(tx);

	r.uri = "/?a=redir";
	tx = run_req(rs, &r, &d);
	assert_int_equal(d.verdict, WAF_REDIRECT);
	assert_int_equal(d.status, 302);
	assert_string_equal(d.location, "https://e.example/redir");
	waf_tx_free(tx);

	r.uri = "/?a=block"; /* block takes the phase's default: deny 418 */
	tx = run_req(rs, &r, &d);
	assert_int_equal(d.verdict, WAF_DENY);
	assert_int_equal(d.status, 418);
	waf_tx_free(tx);

	r.uri = "/?a=allow"; /* allow skips the remaining request rules */
	tx = run_req(rs, &r, &d);
	assert_int_equal(d.verdict, WAF_ALLOW);
	assert_null(waf_tx_var(tx, "TX", "late"));
	waf_tx_free(tx);

	/* detection-only route: everything matches, nothing disrupts */
	r.uri = "/?a=deny";
	r.mode = WAF_MODE_DETECT;
	tx = run_req(rs, &r, &d);
	assert_int_equal(d.verdict, WAF_PASS);
	assert_true(matched(tx, 1));
	assert_string_equal(txvar(tx, "TX", "late"), "1");
	waf_tx_free(tx);

	/* mode off: no rule runs at all */
	r.off = true;
	tx = run_req(rs, &r, &d);
	assert_int_equal(d.verdict, WAF_PASS);
	assert_int_equal(waf_tx_match_count(tx), 0);
	waf_tx_free(tx);
	waf_ruleset_free(rs);
}

static void test_engine_settings(void **s)
{
	(void)s;
	/* SecRuleEngine DetectionOnly downgrades a blocking route */
	struct waf_ruleset *rs = load_rules(
		"SecRuleEngine DetectionOnly\n"
		"SecRule ARGS \"@rx x\" \"id:1,phase:1,deny\"\n");
	struct waf_decision d;
	struct treq r = { .uri = "/?a=x" };
	struct waf_tx *tx = run_req(rs, &r, &d);
	assert_int_equal(d.verdict, WAF_PASS);
	assert_true(matched(tx, 1));
	waf_tx_free(tx);
	waf_ruleset_free(rs);

	/* ctl:ruleEngine=Off stops the rest of the transaction */
	rs = load_rules(ENGINE_ON
		"SecAction \"id:1,phase:1,pass,nolog,ctl:ruleEngine=Off\"\n"
		"SecRule ARGS \"@rx x\" \"id:2,phase:1,deny\"\n");
	tx = run_req(rs, &r, &d);
	assert_int_equal(d.verdict, WAF_PASS);
	assert_false(matched(tx, 2));
	waf_tx_free(tx);
	waf_ruleset_free(rs);

	/* v3 runs no phase-2 rule without request body access */
	rs = load_rules("SecRuleEngine On\nSecRequestBodyAccess Off\n"
			"SecAction \"id:1,phase:2,pass,setvar:tx.p2=1\"\n");
	tx = run_req(rs, &r, &d);
	assert_null(waf_tx_var(tx, "TX", "p2"));
	waf_tx_free(tx);
	waf_ruleset_free(rs);

	/* body over the limit with Reject: 413 before phase 2 */
	rs = load_rules(ENGINE_ON "SecRequestBodyLimit 10\n"
			"SecRequestBodyLimitAction Reject\n"
			"SecAction \"id:1,phase:2,pass,setvar:tx.p2=1\"\n");
	struct treq big = { .method = "POST", .uri = "/",
			    .body = "0123456789abcdef" };
	tx = run_req(rs, &big, &d);
	assert_int_equal(d.verdict, WAF_DENY);
	assert_int_equal(d.status, 413);
	assert_string_equal(txvar(tx, "INBOUND_DATA_ERROR", NULL), "1");
	waf_tx_free(tx);
	waf_ruleset_free(rs);
}

static void test_log_flags(void **s)
{
	(void)s;
	struct waf_ruleset *rs = load_rules(ENGINE_ON
		"SecAction \"id:1,phase:1,pass,log,msg:'m1',logdata:'%{REQUEST_METHOD}',severity:2,tag:a,tag:'b %{REQUEST_METHOD}'\"\n"
		"SecAction \"id:2,phase:1,pass,nolog\"\n"
		"SecAction \"id:3,phase:1,pass,log,noauditlog\"\n"
		"SecAction \"id:4,phase:1,pass,noauditlog,log\"\n");
	struct treq r = { .uri = "/" };
	struct waf_tx *tx = run_req(rs, &r, NULL);
	const struct waf_match *m = match_of(tx, 1);
	assert_true(m->logged);
	assert_string_equal(m->msg, "m1");
	assert_string_equal(m->logdata, "GET");
	assert_int_equal(m->severity, 2);
	assert_int_equal(m->ntags, 2);
	assert_string_equal(m->tags[1], "b GET");
	assert_false(match_of(tx, 2)->logged);
	assert_false(match_of(tx, 3)->logged); /* v3: noauditlog after log */
	assert_true(match_of(tx, 4)->logged);
	assert_string_equal(txvar(tx, "HIGHEST_SEVERITY", NULL), "2");
	waf_tx_free(tx);
	waf_ruleset_free(rs);
}

static void test_audit_json(void **s)
{
	(void)s;
	struct waf_ruleset *rs = load_rules(ENGINE_ON
		"SecComponentSignature \"OWASP_CRS/3.3.4\"\n"
		"SecRule ARGS:q \"@rx evil\" \"id:942100,phase:1,deny,msg:'bad',logdata:'%{MATCHED_VAR}',severity:CRITICAL,tag:attack-sqli,ver:'v1'\"\n");
	struct treq r = { .uri = "/s?q=evil%22", .headers = { { "Host", "x\"y" } } };
	struct waf_tx *tx = run_req(rs, &r, NULL);
	struct bw_buf b;
	bw_buf_init(&b, 1 << 20);
	assert_int_equal(waf_tx_audit_json(tx, &b, false), 0);
	struct bw_arena *a = bw_arena_new(4096, 1 << 20);
	struct bw_err err;
	const struct json_value *v = json_parse(a, b.data, b.len, NULL, &err);
	assert_non_null(v);
	const struct json_value *t = json_get(v, "transaction");
	assert_string_equal(json_get_str(t, "client_ip", ""), "10.1.2.3");
	assert_string_equal(json_get_str(t, "unique_id", ""), "test-1");
	const struct json_value *req = json_get(t, "request");
	assert_string_equal(json_get_str(req, "method", ""), "GET");
	assert_string_equal(json_get_str(req, "uri", ""), "/s?q=evil%22");
	assert_string_equal(json_get_str(json_get(req, "headers"), "Host", ""), "x\"y");
	assert_null(json_get(req, "body"));
	assert_int_equal(json_get_int(json_get(t, "response"), "http_code", 0), 403);
	const struct json_value *msgs = json_get(t, "messages");
	assert_int_equal(msgs->u.arr.n, 1);
	const struct json_value *det = json_get(msgs->u.arr.items[0], "details");
	assert_string_equal(json_get_str(msgs->u.arr.items[0], "message", ""), "bad");
	assert_string_equal(json_get_str(det, "ruleId", ""), "942100");
	assert_string_equal(json_get_str(det, "data", ""), "evil\"");
	assert_string_equal(json_get_str(det, "severity", ""), "2");
	assert_string_equal(json_get_str(det, "ver", ""), "v1");
	assert_string_equal(json_get(det, "tags")->u.arr.items[0]->u.str.p,
			    "attack-sqli");
	bw_arena_free(a);
	bw_buf_fini(&b);
	waf_tx_free(tx);
	waf_ruleset_free(rs);
}

static void test_out_of_memory_fails_closed(void **s)
{
	(void)s;
	struct waf_ruleset *rs = load_rules(ENGINE_ON
		"SecRule ARGS \"@rx x\" \"id:1,phase:1,pass\"\n");
	struct bw_err err;
	struct waf_tx_opts o = { .mode = WAF_MODE_BLOCK, .arena_max = 64 << 10 };
	struct waf_tx *tx = waf_tx_new(rs, &o, &err);
	assert_non_null(tx);
	char big[8192];
	memset(big, 'a', sizeof(big));
	int rc = 0;
	for (int i = 0; i < 64 && rc == 0; i++)
		rc = waf_tx_request_header(tx, "X-Pad", 5, big, sizeof(big));
	assert_int_equal(rc, -1);
	struct waf_decision d;
	assert_int_equal(waf_tx_process_request_headers(tx, &d), -1);
	waf_tx_free(tx);
	waf_ruleset_free(rs);
}

static void test_phase_order(void **s)
{
	(void)s;
	struct waf_ruleset *rs = load_rules(ENGINE_ON
		"SecAction \"id:1,phase:1,pass,nolog,setvar:tx.n=+1\"\n"
		"SecAction \"id:3,phase:3,pass,nolog,setvar:tx.r=%{RESPONSE_STATUS}\"\n"
		"SecAction \"id:5,phase:5,pass,nolog,setvar:tx.l=1\"\n");
	struct bw_err err;
	struct waf_tx *tx = waf_tx_new(rs, NULL, &err);
	struct waf_decision d;
	assert_int_equal(waf_tx_request_line(tx, "GET", 3, "/", 1, "HTTP/1.1", 8), 0);
	/* phase 2 first: phase 1 runs implicitly, once */
	assert_int_equal(waf_tx_process_request_body(tx, &d), 0);
	assert_int_equal(waf_tx_process_request_headers(tx, &d), 0);
	assert_int_equal(waf_tx_score(tx, "n"), 1);
	assert_int_equal(waf_tx_response_status(tx, 404, "HTTP/1.1", 8), 0);
	assert_int_equal(waf_tx_process_response_headers(tx, &d), 0);
	assert_string_equal(txvar(tx, "TX", "r"), "404");
	assert_int_equal(waf_tx_process_logging(tx), 0);
	assert_int_equal(waf_tx_process_logging(tx), 0);
	assert_string_equal(txvar(tx, "TX", "l"), "1");
	waf_tx_free(tx);
	waf_ruleset_free(rs);
}

static void test_persistent_collections(void **s)
{
	(void)s;
	waf_persist_reset();
	struct waf_ruleset *rs = load_rules(ENGINE_ON
		"SecCollectionTimeout 600\n"
		"SecAction \"id:1,phase:1,pass,nolog,initcol:ip=%{REMOTE_ADDR}\"\n"
		"SecAction \"id:2,phase:1,pass,nolog,setvar:ip.hits=+1\"\n"
		"SecRule ARGS:temp \"@streq 1\" \"id:3,phase:1,pass,nolog,"
		"setvar:ip.temp=yes,expirevar:ip.temp=10\"\n"
		"SecRule ARGS:forget \"@streq 1\" \"id:4,phase:1,pass,nolog,"
		"setvar:!ip.hits\"\n");
	bw_clock_set((int64_t)1700000000 * 1000000000);
	struct treq r = { .uri = "/?temp=1" };
	struct waf_tx *tx = run_req(rs, &r, NULL);
	assert_string_equal(txvar(tx, "IP", "hits"), "1");
	waf_tx_free(tx);
	r.uri = "/";
	tx = run_req(rs, &r, NULL);
	assert_string_equal(txvar(tx, "IP", "hits"), "2"); /* same client */
	assert_string_equal(txvar(tx, "IP", "temp"), "yes");
	waf_tx_free(tx);
	bw_clock_advance((int64_t)11 * 1000000000); /* temp expired */
	tx = run_req(rs, &r, NULL);
	assert_string_equal(txvar(tx, "IP", "hits"), "3");
	assert_null(waf_tx_var(tx, "IP", "temp"));
	waf_tx_free(tx);
	r.uri = "/?forget=1"; /* deleted, then the next request starts at 1 */
	tx = run_req(rs, &r, NULL);
	waf_tx_free(tx);
	r.uri = "/";
	tx = run_req(rs, &r, NULL);
	assert_string_equal(txvar(tx, "IP", "hits"), "1");
	waf_tx_free(tx);
	bw_clock_advance((int64_t)601 * 1000000000); /* record timed out */
	tx = run_req(rs, &r, NULL);
	assert_string_equal(txvar(tx, "IP", "hits"), "1");
	waf_tx_free(tx);
	bw_clock_set(0);
	waf_persist_reset();
	waf_ruleset_free(rs);
}

/* Group prefilters: starters with the same chain and prefiltered regexes
 * share one scan of the universe values; the ones whose factors occur
 * nowhere are skipped, the others run as usual. Rules outside the
 * universe (TX targets), negated or multiMatch stay ungrouped. */
static void test_group_prefilter(void **s)
{
	(void)s;
	struct waf_ruleset *rs = load_rules(ENGINE_ON
		"SecRule ARGS \"@rx foo[0-9]+\" \"id:1,phase:1,pass,t:none,t:lowercase\"\n"
		"SecRule ARGS \"@rx bar[0-9]+\" \"id:2,phase:1,pass,t:none,t:lowercase\"\n"
		"SecRule ARGS_NAMES|REQUEST_HEADERS:X-A \"@rx baz[0-9]+\" "
		"\"id:3,phase:1,pass,t:none,t:lowercase\"\n"
		"SecRule ARGS \"!@rx qux[0-9]+\" \"id:4,phase:1,pass,t:none,t:lowercase\"\n"
		"SecRule TX:x \"@rx foo[0-9]+\" \"id:5,phase:1,pass,t:none,t:lowercase\"\n"
		"SecRule ARGS \"@rx bar[0-9]+\" \"id:6,phase:1,pass,t:none,t:lowercase,"
		"chain\"\n"
		"  SecRule ARGS \"@rx foo[0-9]+\" \"t:none\"\n");
	const struct waf_ruleset *r = rs;
	assert_int_equal(r->nskg, 1);
	const struct waf_phase_rules *p1 = &r->phase[1];
	for (size_t i = 0; i < p1->n; i++) {
		uint64_t id = p1->rules[i]->act.id;
		bool grouped = p1->rules[i]->sk_group != 0;
		assert_true(grouped == (id == 1 || id == 2 || id == 3 || id == 6));
		/* run_phase reads the packed step, not the rule */
		const struct waf_step *st = &p1->steps[i];
		assert_ptr_equal(st->r, p1->rules[i]);
		assert_int_equal(st->sk_group, p1->rules[i]->sk_group);
		assert_int_equal(st->sk_bit, p1->rules[i]->sk_bit);
		assert_int_equal(st->kind, p1->rules[i]->kind);
	}
	struct treq q = { .uri = "/?a=FOO12&b=x",
			  .headers = { { "X-A", "BAZ3" } } };
	struct waf_tx *tx = run_req(rs, &q, NULL);
	assert_true(matched(tx, 1));
	assert_false(matched(tx, 2)); /* skipped: no "bar" anywhere */
	assert_true(matched(tx, 3));  /* found in a header */
	assert_true(matched(tx, 4));
	assert_false(matched(tx, 6));
	waf_tx_free(tx);
	struct treq q2 = { .uri = "/?a=bar7&c=foo1" };
	tx = run_req(rs, &q2, NULL);
	assert_true(matched(tx, 1));
	assert_true(matched(tx, 2));
	assert_false(matched(tx, 3));
	assert_true(matched(tx, 6)); /* chain runs when its starter may match */
	waf_tx_free(tx);
	waf_ruleset_free(rs);
}

/* Group members test only the values whose scan found one of their
 * factors, every matching value still counts (setvar per value), values
 * scanned in phase 1 keep their bits in phase 2 while body arguments are
 * scanned then, and each group scans only its members' targets. */
static void test_group_prefilter_per_value(void **s)
{
	(void)s;
	struct waf_ruleset *rs = load_rules(ENGINE_ON
		"SecRequestBodyAccess On\n"
		"SecRule ARGS|REQUEST_HEADERS:X-B \"@rx bar[0-9]+\" "
		"\"id:22,phase:1,pass,t:none,t:lowercase,setvar:tx.bar1=+1\"\n"
		"SecRule ARGS \"@rx foo[0-9]+\" \"id:20,phase:2,pass,t:none,t:lowercase,"
		"setvar:tx.foo=+1\"\n"
		"SecRule ARGS \"@rx bar[0-9]+\" \"id:21,phase:2,pass,t:none,t:lowercase,"
		"setvar:tx.bar=+1\"\n");
	assert_int_equal(rs->nskg, 1);
	const struct waf_rule *u = rs->skg[0].uni;
	assert_non_null(u);
	assert_int_equal(u->ntargets, 2); /* ARGS once, and the X-B header */
	struct treq q = { .method = "POST", .uri = "/?a=FOO1&b=bar&c=xfoo2y&d=foo",
			  .headers = { { "X-B", "bar9" },
				       { "X-C", "bar8" },
				       { "Content-Type",
					 "application/x-www-form-urlencoded" } },
			  .body = "e=BAR5&f=foo3" };
	struct waf_tx *tx = run_req(rs, &q, NULL);
	assert_string_equal(waf_tx_var(tx, "TX", "bar1"), "1"); /* X-B only */
	assert_string_equal(waf_tx_var(tx, "TX", "foo"), "3");  /* a, c, f */
	assert_string_equal(waf_tx_var(tx, "TX", "bar"), "1");  /* e */
	waf_tx_free(tx);
	waf_ruleset_free(rs);
}

/* Links with the same fixed target list reuse one collection per phase,
 * but never across a ctl target removal (it depends on the rule) and
 * never between lists that differ in an exclusion. */
static void test_collect_reuse(void **s)
{
	(void)s;
	struct waf_ruleset *rs = load_rules(ENGINE_ON
		"SecRule ARGS \"@rx ^x\" \"id:10,phase:1,pass\"\n"
		"SecRule REQUEST_URI \"@contains /rm\" \"id:11,phase:1,pass,nolog,"
		"ctl:ruleRemoveTargetById=13;ARGS:b\"\n"
		"SecRule ARGS \"@rx ^y\" \"id:12,phase:1,pass\"\n"
		"SecRule ARGS \"@rx ^y\" \"id:13,phase:1,pass\"\n"
		"SecRule ARGS|!ARGS:b \"@rx ^y\" \"id:14,phase:1,pass\"\n"
		"SecRule ARGS \"@rx ^y\" \"id:15,phase:1,pass\"\n"
		"SecRule TX:z \"@rx ^y\" \"id:16,phase:1,pass\"\n");
	const struct waf_phase_rules *p1 = &rs->phase[1];
	uint32_t sig10 = 0;
	for (size_t i = 0; i < p1->n; i++) {
		const struct waf_rule *r = p1->rules[i];
		if (r->act.id == 10)
			sig10 = r->tsig;
		if (r->act.id == 12 || r->act.id == 13 || r->act.id == 15)
			assert_int_equal(r->tsig, sig10);
		if (r->act.id == 14)
			assert_int_not_equal(r->tsig, sig10);
		if (r->act.id == 16)
			assert_int_equal(r->tsig, 0); /* TX can change */
	}
	assert_int_not_equal(sig10, 0);
	struct treq q = { .uri = "/rm?a=x&b=y" };
	struct waf_tx *tx = run_req(rs, &q, NULL);
	assert_true(matched(tx, 10));
	assert_true(matched(tx, 12));
	assert_false(matched(tx, 13)); /* ARGS:b removed for 13 only */
	assert_false(matched(tx, 14));
	assert_true(matched(tx, 15));
	waf_tx_free(tx);
	struct treq q2 = { .uri = "/p?a=x&b=y" };
	tx = run_req(rs, &q2, NULL);
	assert_true(matched(tx, 13));
	assert_false(matched(tx, 14));
	waf_tx_free(tx);
	waf_ruleset_free(rs);
}

/* The match list starts at MATCHES_FIRST entries (or the rule count when
 * smaller) and still grows: 300 matching rules are all recorded, in
 * order, with their operators' names (waf_op_name's table). */
static void test_match_list_growth(void **s)
{
	(void)s;
	struct bw_buf b;
	bw_buf_init(&b, 1 << 20);
	assert_int_equal(bw_buf_append(&b, ENGINE_ON, strlen(ENGINE_ON)), 0);
	for (int i = 1; i <= 300; i++) {
		char line[160];
		int n = bw_snprintf(line, sizeof(line),
				    "SecRule REQUEST_METHOD \"@%s\" "
				    "\"id:%d,phase:%d,pass,%s\"\n",
				    i % 3 == 0 ? "streq GET" : i % 3 == 1 ? "rx ^G" : "within GET POST",
				    i, 1 + i % 2, i % 5 ? "nolog" : "log");
		assert_true(n > 0);
		assert_int_equal(bw_buf_append(&b, line, (size_t)n), 0);
	}
	assert_int_equal(bw_buf_append(&b, "", 1), 0);
	struct waf_ruleset *rs = load_rules((const char *)b.data);
	bw_buf_fini(&b);
	struct treq r = { .uri = "/" };
	struct waf_tx *tx = run_req(rs, &r, NULL);
	assert_int_equal(waf_tx_match_count(tx), 300);
	uint64_t prev_phase1 = 0, prev_phase2 = 0;
	for (size_t i = 0; i < 300; i++) {
		const struct waf_match *m = waf_tx_match_get(tx, i);
		uint64_t id = m->rule_id;
		assert_int_equal(m->phase, 1 + (int)(id % 2));
		if (m->phase == 1) {
			assert_true(id > prev_phase1);
			prev_phase1 = id;
		} else {
			assert_true(id > prev_phase2);
			prev_phase2 = id;
		}
		assert_string_equal(m->op, id % 3 == 0 ? "streq" : id % 3 == 1 ? "rx" : "within");
		assert_int_equal(m->logged, id % 5 == 0);
	}
	waf_tx_free(tx);
	waf_ruleset_free(rs);
	/* one rule: the first capacity is the floor, not 128 entries */
	rs = load_rules(ENGINE_ON "SecRule REQUEST_METHOD \"@pm get head\" "
			"\"id:7,phase:1,pass,log\"\n");
	tx = run_req(rs, &r, NULL);
	assert_int_equal(waf_tx_match_count(tx), 1);
	assert_string_equal(waf_tx_match_get(tx, 0)->op, "pm");
	waf_tx_free(tx);
	waf_ruleset_free(rs);
}

/* TX entries keep the key hash computed once in waf_col_set through
 * every index growth (the index starts at 128 slots and doubles): 300
 * keys set in one case are found in another, a second set replaces the
 * value in place, and a missing key stays missing. */
static void test_tx_index_growth(void **s)
{
	(void)s;
	struct waf_ruleset *rs = load_rules(ENGINE_ON);
	struct waf_tx *tx = waf_tx_new(rs, NULL, NULL);
	assert_non_null(tx);
	char k[32], v[32];
	for (int i = 0; i < 300; i++) {
		int kn = bw_snprintf(k, sizeof(k), "Score_Key_%d", i);
		int vn = bw_snprintf(v, sizeof(v), "%d", i * 7);
		assert_true(kn > 0 && vn > 0);
		assert_int_equal(waf_col_set(tx, WAF_VAR_TX, bw_str_make(k, (size_t)kn),
					     bw_str_make(v, (size_t)vn)), 0);
	}
	assert_int_equal(waf_col_set(tx, WAF_VAR_TX, BW_STR("SCORE_KEY_5"),
				     BW_STR("replaced")), 0);
	assert_int_equal(tx->col[WAF_VAR_TX].n, 300);
	for (int i = 0; i < 300; i++) {
		int kn = bw_snprintf(k, sizeof(k), "sCORE_kEY_%d", i);
		const struct waf_kv *kv = waf_col_get(tx, WAF_VAR_TX,
						      bw_str_make(k, (size_t)kn));
		assert_non_null(kv);
		if (i == 5) {
			assert_string_equal(kv->val.p, "replaced");
		} else {
			assert_int_equal(waf_atoi(kv->val), i * 7);
		}
	}
	assert_null(waf_col_get(tx, WAF_VAR_TX, BW_STR("score_key_300")));
	waf_tx_free(tx);
	waf_ruleset_free(rs);
}

/* Values shorter than every literal of a Hyperscan database are not
 * scanned (hs_minlen, group minlen): a value of exactly that length still
 * matches, a shorter one cannot. */
static void test_scan_min_length(void **s)
{
	(void)s;
	struct waf_ruleset *rs = load_rules(
		ENGINE_ON
		"SecRule ARGS \"@pm abcd xyzzy\" \"id:1,phase:2,pass,log\"\n"
		"SecRule ARGS \"@rx wxyz\\d\" \"id:2,phase:2,pass,log\"\n"
		"SecRule ARGS \"@rx qrst\\d\" \"id:3,phase:2,pass,log,t:lowercase\"\n"
		"SecRule ARGS \"@rx mnop\\d\" \"id:4,phase:2,pass,log,t:lowercase\"\n"
		"SecRule ARGS \"@rx (?:!|<|ab)\\d\" \"id:5,phase:2,pass,log\"\n");
	/* single-byte factors: a byte set plus the longer ones */
	const struct waf_operator *o5 = &rs->phase[2].rules[4]->op;
	assert_true(o5->rx_has_fbytes && o5->rx_fhs && !o5->hs);
	assert_int_equal(rs->phase[2].rules[0]->op.hs_minlen, 4);
	assert_int_equal(rs->phase[2].rules[1]->op.hs_minlen, 4);
	assert_true(rs->nskg >= 1);
	assert_int_equal(rs->skg[0].minlen, 4);
	struct treq r = { .uri = "/?a=abc&b=wxy9&c=QRS&d=MNO&e=z%3F1&f=a1" };
	struct waf_tx *tx = run_req(rs, &r, NULL);
	assert_int_equal(waf_tx_match_count(tx), 0);
	waf_tx_free(tx);
	r.uri = "/?a=ABCD&b=wxyz9&c=QRST1&d=MNOP2";
	tx = run_req(rs, &r, NULL);
	assert_true(matched(tx, 1) && matched(tx, 2) && matched(tx, 3) &&
		    matched(tx, 4));
	waf_tx_free(tx);
	static const char *const hits[] = { "/?e=x!1", "/?e=%3C2", "/?e=ab3" };
	for (size_t i = 0; i < BW_ARRAY_LEN(hits); i++) {
		r.uri = hits[i];
		tx = run_req(rs, &r, NULL);
		assert_true(matched(tx, 5));
		waf_tx_free(tx);
	}
	waf_ruleset_free(rs);
}

/* Constant setvar keys and macro references are hashed at load; the
 * lookups they make stay case-insensitive and agree with keys written
 * by other means (macro-built keys, capture). */
static void test_hashed_keys(void **s)
{
	(void)s;
	struct waf_ruleset *rs = load_rules(
		ENGINE_ON
		"SecAction \"id:1,phase:1,pass,nolog,setvar:tx.MixedKey=5\"\n"
		"SecAction \"id:2,phase:1,pass,nolog,setvar:tx.mixedKEY=+1,"
		"setvar:'tx.built_%{tx.mixedkey}=x'\"\n"
		"SecRule ARGS:a \"@rx ^(\\w+)$\" \"id:3,phase:1,pass,nolog,capture,"
		"setvar:tx.got=%{TX.1}\"\n"
		"SecRule TX:MIXEDKEY \"@eq 6\" \"id:4,phase:1,pass,log,"
		"msg:'%{tx.MIXEDkey} %{tx.BUILT_6} %{tx.got}'\"\n");
	struct treq r = { .uri = "/?a=word" };
	struct waf_tx *tx = run_req(rs, &r, NULL);
	assert_string_equal(match_of(tx, 4)->msg, "6 x word");
	assert_string_equal(txvar(tx, "TX", "mixedkey"), "6");
	waf_tx_free(tx);
	waf_ruleset_free(rs);
}

/* Loads text with the phase-1 snapshot off (BW_WAF_NO_SNAPSHOT). */
static struct waf_ruleset *load_rules_nosnap(const char *text)
{
	assert_int_equal(setenv("BW_WAF_NO_SNAPSHOT", "1", 1), 0);
	struct waf_ruleset *rs = load_rules(text);
	assert_int_equal(unsetenv("BW_WAF_NO_SNAPSHOT"), 0);
	assert_null(rs->snap);
	return rs;
}

static const char *nz(const char *s)
{
	return s ? s : "";
}

/* Two transactions of the same request agree on everything rules and
 * callers can see: verdict, every match (order and fields), TX. */
static void assert_same_tx(const struct waf_tx *a, const struct waf_tx *b)
{
	struct waf_decision da, db;
	waf_tx_decision(a, &da);
	waf_tx_decision(b, &db);
	assert_int_equal(da.verdict, db.verdict);
	assert_int_equal(da.status, db.status);
	assert_int_equal(da.rule_id, db.rule_id);
	assert_int_equal(waf_tx_match_count(a), waf_tx_match_count(b));
	for (size_t i = 0; i < waf_tx_match_count(a); i++) {
		const struct waf_match *x = waf_tx_match_get(a, i);
		const struct waf_match *y = waf_tx_match_get(b, i);
		assert_int_equal(x->rule_id, y->rule_id);
		assert_int_equal(x->phase, y->phase);
		assert_string_equal(nz(x->msg), nz(y->msg));
		assert_string_equal(nz(x->logdata), nz(y->logdata));
		assert_string_equal(nz(x->var_name), nz(y->var_name));
		assert_string_equal(nz(x->var_value), nz(y->var_value));
		assert_string_equal(nz(x->tfns), nz(y->tfns));
		assert_int_equal(x->logged, y->logged);
		assert_int_equal(x->disruptive, y->disruptive);
		assert_int_equal(x->score, y->score);
		assert_int_equal(x->severity, y->severity);
		assert_int_equal(x->ntags, y->ntags);
	}
	const struct waf_col *ca = &a->col[WAF_VAR_TX], *cb = &b->col[WAF_VAR_TX];
	size_t live_a = 0, live_b = 0;
	for (uint32_t i = 0; i < ca->n; i++) {
		if (!ca->v[i].val.p)
			continue;
		live_a++;
		const struct waf_kv *kv = waf_col_get(b, WAF_VAR_TX, ca->v[i].key);
		assert_non_null(kv);
		assert_int_equal(kv->val.len, ca->v[i].val.len);
		assert_memory_equal(kv->val.p, ca->v[i].val.p, kv->val.len);
	}
	for (uint32_t i = 0; i < cb->n; i++)
		live_b += cb->v[i].val.p != NULL;
	assert_int_equal(live_a, live_b);
	assert_int_equal(a->highest_severity, b->highest_severity);
}

/* Each request through both rule sets gives the same transaction. */
static void assert_same_runs(const struct waf_ruleset *rs,
			     const struct waf_ruleset *plain,
			     const struct treq *reqs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct waf_tx *a = run_req(rs, &reqs[i], NULL);
		struct waf_tx *b = run_req(plain, &reqs[i], NULL);
		assert_same_tx(a, b);
		assert_true(waf_tx_match_count(a) > 0);
		waf_tx_free(a);
		waf_tx_free(b);
	}
}

/* Phase 1's configuration-only rules run once at load (rs->snap) and a
 * transaction takes their result: it must be exactly what running them
 * gives, and it must not be taken when an earlier rule changed what
 * they read. */
static void test_phase1_snapshot(void **s)
{
	(void)s;
	const char *text =
		ENGINE_ON
		"SecRule REQUEST_HEADERS:Content-Type \"@rx ^application/json\" "
		"\"id:1,phase:1,pass,nolog,ctl:requestBodyProcessor=JSON\"\n"
		"SecAction \"id:10,phase:1,pass,nolog,setvar:tx.level=2,setvar:tx.score=0\"\n"
		"SecRule &TX:limit \"@eq 0\" \"id:11,phase:1,pass,nolog,setvar:tx.limit=5\"\n"
		"SecRule TX:level \"@lt 2\" \"id:12,phase:1,pass,nolog,skipAfter:END-L2\"\n"
		"SecRule TX:level \"@ge 2\" \"id:13,phase:1,pass,log,severity:4,"
		"msg:'level %{tx.level}',setvar:tx.seen=%{MATCHED_VAR_NAME}\"\n"
		"SecRule TX:level \"@lt 3\" \"id:16,phase:1,pass,nolog,skipAfter:END-L2\"\n"
		"SecRule TX:level \"@eq 2\" \"id:17,phase:1,pass,nolog,setvar:tx.skipped=1\"\n"
		"SecMarker END-L2\n"
		"SecRule TX:limit \"@eq 99\" \"id:14,phase:1,deny,status:403\"\n"
		"SecRule TX:level \"@rx ^(\\d)$\" \"id:15,phase:1,pass,nolog,capture,"
		"setvar:tx.cap=%{tx.1}\"\n"
		"SecRule REQUEST_URI \"@contains attack\" \"id:20,phase:1,pass,log,"
		"setvar:tx.score=+%{tx.limit}\"\n"
		"SecRule TX:level \"@eq 2\" \"id:21,phase:1,pass,nolog,setvar:tx.after=1\"\n"
		"SecRule TX:score \"@ge 5\" \"id:30,phase:2,deny,status:403,log,"
		"msg:'score %{tx.score}'\"\n";
	struct waf_ruleset *rs = load_rules(text);
	struct waf_ruleset *plain = load_rules_nosnap(text);
	/* the snapshot covers 10..15 (14 does not match): from step 1 to
	 * rule 20, the first that reads request data */
	assert_non_null(rs->snap);
	assert_int_equal(rs->snap_first, 1);
	assert_int_equal(rs->phase[1].steps[rs->snap_resume].r->act.id, 20);
	struct treq reqs[] = {
		{ .uri = "/" },
		{ .uri = "/attack" },
		{ .method = "POST", .uri = "/attack",
		  .headers = { { "Content-Type", "application/json" } },
		  .body = "{\"a\":1}" },
		{ .uri = "/", .mode = WAF_MODE_DETECT },
	};
	assert_same_runs(rs, plain, reqs, BW_ARRAY_LEN(reqs));
	for (size_t i = 0; i < BW_ARRAY_LEN(reqs); i++) {
		struct waf_tx *a = run_req(rs, &reqs[i], NULL);
		assert_string_equal(txvar(a, "TX", "cap"), "2");
		assert_string_equal(txvar(a, "TX", "seen"), "TX:level");
		assert_string_equal(txvar(a, "TX", "after"), "1");
		assert_string_equal(txvar(a, "TX", "skipped"), "(unset)");
		assert_true(matched(a, 13) && !matched(a, 17));
		waf_tx_free(a);
	}
	/* attack: 20 adds the limit the snapshot set, 30 denies */
	struct waf_decision d;
	struct waf_tx *tx = run_req(rs, &reqs[1], &d);
	assert_int_equal(d.verdict, WAF_DENY);
	assert_int_equal(d.rule_id, 30);
	assert_string_equal(match_of(tx, 30)->msg, "score 5");
	waf_tx_free(tx);
	/* rule 1 matched first (MATCHED_VAR set): the rules ran instead,
	 * with the same outcome (compared above); its match comes first */
	tx = run_req(rs, &reqs[2], &d);
	assert_int_equal(waf_tx_match_get(tx, 0)->rule_id, 1);
	waf_tx_free(tx);
	waf_ruleset_free(rs);
	waf_ruleset_free(plain);

	/* a configuration-only rule that denies ends the snapshot before
	 * it; one at the start leaves no snapshot */
	rs = load_rules(ENGINE_ON
			"SecAction \"id:1,phase:1,pass,nolog,setvar:tx.a=1\"\n"
			"SecRule &TX:b \"@eq 0\" \"id:2,phase:1,deny,status:403\"\n"
			"SecAction \"id:3,phase:1,pass,nolog,setvar:tx.c=1\"\n");
	assert_non_null(rs->snap);
	assert_int_equal(rs->snap_first, 0);
	assert_int_equal(rs->snap_resume, 1);
	tx = run_req(rs, &reqs[0], &d);
	assert_int_equal(d.verdict, WAF_DENY);
	assert_int_equal(d.rule_id, 2);
	assert_string_equal(txvar(tx, "TX", "a"), "1");
	assert_string_equal(txvar(tx, "TX", "c"), "(unset)");
	waf_tx_free(tx);
	waf_ruleset_free(rs);
	rs = load_rules(ENGINE_ON
			"SecRule &TX:b \"@eq 0\" \"id:2,phase:1,deny,status:403\"\n");
	assert_null(rs->snap);
	waf_ruleset_free(rs);
}

/* The step of rule id in phase ph. */
static const struct waf_step *step_of(const struct waf_ruleset *rs, int ph,
				      uint64_t id)
{
	for (size_t i = 0; i < rs->phase[ph].n; i++)
		if (rs->phase[ph].steps[i].kind != WAF_RULE_MARKER &&
		    rs->phase[ph].steps[i].r->act.id == id)
			return &rs->phase[ph].steps[i];
	fail();
	return NULL;
}

/* Rules after the snapshot that read only TX keys nothing before them
 * writes are decided by the snapshot's values; a key some rule may write
 * (by name, by a key macro's literal start, by capture) keeps its rule
 * running. */
static void test_snapshot_decided_rules(void **s)
{
	(void)s;
	const char *text =
		ENGINE_ON
		"SecAction \"id:10,phase:1,pass,nolog,setvar:tx.level=2,"
		"setvar:tx.score=0,setvar:tx.dynamo=1\"\n"
		"SecRule REQUEST_URI \"@rx ^/(\\w)\" \"id:20,phase:1,pass,nolog,capture,"
		"setvar:tx.score=+1,setvar:'tx.dyn_%{tx.1}=1'\"\n"
		"SecRule TX:level \"@lt 1\" \"id:40,phase:2,pass,log,msg:'never'\"\n"
		"SecRule TX:level \"@lt 3\" \"id:41,phase:2,pass,log,msg:'always'\"\n"
		"SecRule TX:score \"@lt 0\" \"id:42,phase:2,pass,log\"\n"
		"SecRule TX:dyn_x \"@eq 1\" \"id:43,phase:2,pass,log\"\n"
		"SecRule TX:dynamo \"@eq 0\" \"id:44,phase:2,pass,log\"\n"
		"SecRule TX:1 \"@streq x\" \"id:45,phase:2,pass,log\"\n"
		"SecRule &TX:absent \"@eq 1\" \"id:46,phase:3,pass,log\"\n"
		"SecRule TX:level \"@gt %{tx.score}\" \"id:47,phase:2,pass,log\"\n"
		"SecRule TX:/^DYN/ \"@eq 1\" \"id:48,phase:2,pass,log\"\n"
		"SecRule TX:level|&TX:level \"@lt 3\" \"id:49,phase:2,pass,nolog,"
		"msg:'gate %{MATCHED_VAR_NAME}',skipAfter:END-49\"\n"
		"SecRule TX:level \"@eq 2\" \"id:50,phase:2,pass,log\"\n"
		"SecMarker END-49\n"
		"SecRule TX:level \"@eq 2\" \"id:51,phase:2,pass,nolog,setvar:tx.seen51=1\"\n"
		"SecRule &TX:seen51 \"@eq 1\" \"id:52,phase:2,pass,log,msg:'%{MATCHED_VAR}'\"\n";
	struct waf_ruleset *rs = load_rules(text);
	struct waf_ruleset *plain = load_rules_nosnap(text);
	assert_non_null(rs->snap);
	assert_true(step_of(rs, 2, 40)->no_match_after_snap);
	assert_false(step_of(rs, 2, 41)->no_match_after_snap); /* matches */
	assert_false(step_of(rs, 2, 42)->no_match_after_snap); /* 20 writes */
	assert_false(step_of(rs, 2, 43)->no_match_after_snap); /* dyn_%{..} */
	assert_true(step_of(rs, 2, 44)->no_match_after_snap);
	assert_false(step_of(rs, 2, 45)->no_match_after_snap); /* capture */
	assert_true(step_of(rs, 3, 46)->no_match_after_snap);
	assert_false(step_of(rs, 2, 47)->no_match_after_snap); /* reads score */
	/* decided matches: replayed when they run no actions, log nothing */
	const struct waf_replay *rep = step_of(rs, 2, 49)->match_after_snap;
	assert_non_null(rep);
	assert_int_equal(rep->n, 2); /* TX:level "2" and &TX:level "1" */
	assert_null(step_of(rs, 2, 41)->match_after_snap); /* logs */
	assert_null(step_of(rs, 2, 51)->match_after_snap); /* setvar */
	assert_null(step_of(rs, 2, 52)->match_after_snap); /* 51 writes */
	/* regex selectors are already decided on the snapshot's keys */
	const struct waf_kv *dynamo = waf_col_get(rs->snap, WAF_VAR_TX, BW_STR("dynamo"));
	const struct waf_kv *level = waf_col_get(rs->snap, WAF_VAR_TX, BW_STR("level"));
	assert_non_null(dynamo);
	assert_non_null(level);
	assert_true(dynamo->sel_known && dynamo->sel_hit == dynamo->sel_known);
	assert_true(level->sel_known && !level->sel_hit);
	struct treq reqs[] = {
		{ .uri = "/x" },
		{ .uri = "/y", .mode = WAF_MODE_DETECT },
		{ .uri = "/-" },
	};
	assert_same_runs(rs, plain, reqs, BW_ARRAY_LEN(reqs));
	struct waf_tx *tx = run_req(rs, &reqs[0], NULL);
	assert_true(matched(tx, 41) && matched(tx, 43) && matched(tx, 45) &&
		    matched(tx, 47));
	assert_string_equal(match_of(tx, 48)->var_name, "TX:dyn_x"); /* the last */
	/* the last matching value names the match: the count */
	assert_string_equal(match_of(tx, 49)->msg, "gate TX");
	assert_string_equal(match_of(tx, 49)->var_name, "TX");
	assert_string_equal(match_of(tx, 49)->var_value, "1");
	assert_false(matched(tx, 50));
	assert_string_equal(match_of(tx, 52)->msg, "1");
	assert_false(matched(tx, 40) || matched(tx, 44) || matched(tx, 46));
	waf_tx_free(tx);
	tx = run_req(rs, &reqs[2], NULL); /* no TX:dyn_x */
	assert_string_equal(match_of(tx, 48)->var_name, "TX:dynamo");
	waf_tx_free(tx);
	waf_ruleset_free(rs);
	waf_ruleset_free(plain);
}

/* The same, on the CRS behind ModSecurity's recommended rules (which
 * pick body processors first), for benign and attack requests. */
static void test_phase1_snapshot_crs(void **s)
{
	(void)s;
	struct stat st;
	if (stat("/etc/modsecurity/crs/crs-setup.conf", &st) != 0) {
		skip();
		return;
	}
	const char *text =
		ENGINE_ON
		"SecRule REQUEST_HEADERS:Content-Type \"^(?:application(?:/soap\\+|/)|text/)xml\" "
		"\"id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML\"\n"
		"SecRule REQUEST_HEADERS:Content-Type \"^application/json\" "
		"\"id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON\"\n"
		"Include /etc/modsecurity/crs/crs-setup.conf\n"
		"Include /usr/share/modsecurity-crs/rules/*.conf\n";
	struct waf_ruleset *rs = load_rules(text);
	struct waf_ruleset *plain = load_rules_nosnap(text);
	assert_non_null(rs->snap);
	assert_int_equal(rs->snap_first, 2);
	assert_true(rs->snap_resume > 20);
	struct treq reqs[] = {
		{ .uri = "/index.html?q=hello",
		  .headers = { { "Host", "example.com" }, { "User-Agent", "curl/8.0" },
			       { "Accept", "*/*" } } },
		{ .uri = "/?id=1%27%20or%20%271%27=%271",
		  .headers = { { "Host", "example.com" }, { "User-Agent", "curl/8.0" } } },
		{ .uri = "/?q=<script>alert(1)</script>", .mode = WAF_MODE_DETECT,
		  .headers = { { "Host", "example.com" }, { "User-Agent", "sqlmap/1.7" } } },
		{ .method = "POST", .uri = "/api",
		  .headers = { { "Host", "example.com" }, { "User-Agent", "curl/8.0" },
			       { "Content-Type", "application/json" } },
		  .body = "{\"name\":\"x\",\"q\":\"../../etc/passwd\"}" },
		{ .method = "POST", .uri = "/form",
		  .headers = { { "Host", "example.com" }, { "User-Agent", "curl/8.0" },
			       { "Content-Type", "application/x-www-form-urlencoded" } },
		  .body = "a=1&b=hello+world&c=%3Bcat+/etc/passwd" },
		{ .uri = "/" },
	};
	assert_same_runs(rs, plain, reqs, BW_ARRAY_LEN(reqs));
	waf_ruleset_free(rs);
	waf_ruleset_free(plain);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_line_vars),
		cmocka_unit_test(test_group_prefilter),
		cmocka_unit_test(test_group_prefilter_per_value),
		cmocka_unit_test(test_collect_reuse),
		cmocka_unit_test(test_match_list_growth),
		cmocka_unit_test(test_tx_index_growth),
		cmocka_unit_test(test_scan_min_length),
		cmocka_unit_test(test_hashed_keys),
		cmocka_unit_test(test_phase1_snapshot),
		cmocka_unit_test(test_snapshot_decided_rules),
		cmocka_unit_test(test_phase1_snapshot_crs),
		cmocka_unit_test(test_absolute_uri_and_cookies),
		cmocka_unit_test(test_selectors_and_exclusions),
		cmocka_unit_test(test_operators),
		cmocka_unit_test(test_ipmatch),
		cmocka_unit_test(test_macro_operand),
		cmocka_unit_test(test_setvar),
		cmocka_unit_test(test_setvar_per_match),
		cmocka_unit_test(test_chain_and_capture),
		cmocka_unit_test(test_transformations_and_multimatch),
		cmocka_unit_test(test_skip_and_skipafter),
		cmocka_unit_test(test_ctl_exclusions),
		cmocka_unit_test(test_disruptive),
		cmocka_unit_test(test_engine_settings),
		cmocka_unit_test(test_log_flags),
		cmocka_unit_test(test_audit_json),
		cmocka_unit_test(test_out_of_memory_fails_closed),
		cmocka_unit_test(test_phase_order),
		cmocka_unit_test(test_persistent_collections),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
