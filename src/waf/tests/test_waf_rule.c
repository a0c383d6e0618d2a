/*
 * Unit tests for the SecRule parts: targets, operators, actions and
 * macros, each construct parsed from rule text in memory, and each kind of
 * malformed input rejected with its own reason and a file:line message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "waf/waf_int.h"

static struct waf_ruleset *load(const char *text)
{
	struct waf_ruleset *rs = NULL;
	struct bw_err err = { 0 };
	if (waf_ruleset_load_buffer("t.conf", text, strlen(text), NULL, &rs,
				    &err) != 0)
		fail_msg("load failed: %s (%s)", err.msg, err.reason);
	return rs;
}

/* The load must fail with this reason and a message containing want. */
static void load_fail(const char *text, const char *reason, const char *want)
{
	struct waf_ruleset *rs = NULL;
	struct bw_err err = { 0 };
	int rc = waf_ruleset_load_buffer("t.conf", text, strlen(text), NULL,
					 &rs, &err);
	if (rc == 0)
		fail_msg("load of <%s> succeeded, wanted %s", text, reason);
	assert_null(rs);
	if (strcmp(err.reason, reason) != 0 || !strstr(err.msg, want))
		fail_msg("got %s: '%s', want %s: '...%s...'", err.reason,
			 err.msg, reason, want);
}

static struct waf_rule *first(struct waf_ruleset *rs)
{
	for (int ph = 1; ph <= 5; ph++)
		for (size_t i = 0; i < rs->phase[ph].n; i++)
			if (rs->phase[ph].rules[i]->kind != WAF_RULE_MARKER)
				return rs->phase[ph].rules[i];
	fail_msg("no rule");
	return NULL;
}

static void targets_all_forms(void **state)
{
	(void)state;
	struct waf_ruleset *rs = load(
		"SecRule \"ARGS|ARGS:foo|ARGS:/^b\\/ar/|!ARGS:baz|&ARGS|"
		"REQUEST_HEADERS:User-Agent|TX:/^foo/|XML:/*|MATCHED_VARS|"
		"!REQUEST_COOKIES:'/__utm/'|args_names|&TX:x|"
		"REQUEST_COOKIES:'quoted name'\" \"@rx a\" \"id:1\"");
	struct waf_rule *r = first(rs);
	assert_int_equal(r->ntargets, 13);
	struct waf_target *t = r->targets;
	assert_int_equal(t[0].var, WAF_VAR_ARGS);
	assert_int_equal(t[0].sel_kind, WAF_SEL_NONE);
	assert_int_equal(t[1].sel_kind, WAF_SEL_NAME);
	assert_string_equal(t[1].sel.p, "foo");
	assert_int_equal(t[2].sel_kind, WAF_SEL_REGEX);
	assert_string_equal(t[2].sel.p, "^b\\/ar");
	assert_non_null(t[2].sel_re);
	assert_true(t[3].exclude);
	assert_string_equal(t[3].sel.p, "baz");
	assert_true(t[4].count);
	assert_int_equal(t[4].sel_kind, WAF_SEL_NONE);
	assert_int_equal(t[5].var, WAF_VAR_REQUEST_HEADERS);
	assert_string_equal(t[5].sel.p, "User-Agent");
	assert_int_equal(t[6].var, WAF_VAR_TX);
	assert_int_equal(t[6].sel_kind, WAF_SEL_REGEX);
	assert_int_equal(t[7].var, WAF_VAR_XML);
	assert_int_equal(t[7].sel_kind, WAF_SEL_XPATH);
	assert_string_equal(t[7].sel.p, "/*");
	assert_int_equal(t[8].var, WAF_VAR_MATCHED_VARS);
	assert_true(t[9].exclude);
	assert_int_equal(t[9].sel_kind, WAF_SEL_REGEX);
	assert_string_equal(t[9].sel.p, "__utm");
	assert_int_equal(t[10].var, WAF_VAR_ARGS_NAMES); /* case-insensitive */
	assert_true(t[11].count);
	assert_string_equal(t[11].sel.p, "x");
	assert_string_equal(t[12].sel.p, "quoted name");
	/* selector regexes are caseless, as in v3 */
	uint32_t opts = 0;
	pcre2_pattern_info(t[6].sel_re, PCRE2_INFO_ALLOPTIONS, &opts);
	assert_true(opts & PCRE2_CASELESS);
	waf_ruleset_free(rs);
}

static void targets_malformed(void **state)
{
	(void)state;
	load_fail("SecRule ARGZ \"@rx a\" \"id:1\"", "unknown_variable",
		  "t.conf:1: unknown variable 'ARGZ'");
	load_fail("SecRule REQUEST_URI:foo \"@rx a\" \"id:1\"", "bad_selector",
		  "REQUEST_URI is not a collection");
	load_fail("SecRule ARGS:/abc \"@rx a\" \"id:1\"", "bad_selector",
		  "unterminated /regex/");
	load_fail("SecRule ARGS: \"@rx a\" \"id:1\"", "bad_selector",
		  "empty selector");
	load_fail("SecRule ARGS| \"@rx a\" \"id:1\"", "bad_target",
		  "ends with '|'");
	load_fail("SecRule ARGS||ARGS \"@rx a\" \"id:1\"", "bad_target",
		  "expected a variable name");
	load_fail("SecRule ARGS:/(/ \"@rx a\" \"id:1\"", "bad_regex",
		  "variable selector: invalid regular expression at offset 1");
	load_fail("SecRule \"\" \"@rx a\" \"id:1\"", "bad_target",
		  "empty variable list");
}

static void operators_parse(void **state)
{
	(void)state;
	struct waf_ruleset *rs = load(
		"SecRule ARGS \"foo(bar)\" \"id:1\"\n"
		"SecRule ARGS \"!@rx ^$\" \"id:2\"\n"
		"SecRule ARGS \"@pm  one two   three \" \"id:3\"\n"
		"SecRule ARGS \"@streq %{tx.a}x\" \"id:4\"\n"
		"SecRule ARGS \"@eq -42\" \"id:5\"\n"
		"SecRule ARGS \"@lt %{tx.limit}\" \"id:6\"\n"
		"SecRule REMOTE_ADDR \"@ipMatch 10.0.0.0/8, 192.168.1.7,::1,"
		"2001:db8::1/32\" \"id:7\"\n"
		"SecRule ARGS \"@validateByteRange 9,10, 32-126\" \"id:8\"\n"
		"SecRule ARGS \"@detectSQLi\" \"id:9\"\n"
		"SecRule ARGS \"@RX AbC\" \"id:10\"\n"
		"SecRule ARGS \"@rx ^%{tx.re}$\" \"id:11\"\n"
		"SecRule ARGS \"@verifyCC \\d{13,16}\" \"id:12\"\n"
		"SecRule ARGS \"@within GET HEAD\" \"id:13\"\n"
		"SecRule ARGS \"\" \"id:14\"\n"
		"SecRule ARGS \"@rx a\\\"b\" \"id:15\"\n");
	struct waf_rule *r[16] = { 0 };
	for (size_t i = 0; i < rs->phase[1].n; i++)
		r[rs->phase[1].rules[i]->act.id] = rs->phase[1].rules[i];
	assert_int_equal(r[1]->op.id, WAF_OP_RX);
	assert_string_equal(r[1]->op.arg.p, "foo(bar)");
	assert_non_null(r[1]->op.re);
	uint32_t opts = 0;
	pcre2_pattern_info(r[1]->op.re, PCRE2_INFO_ALLOPTIONS, &opts);
	assert_true(opts & PCRE2_DOTALL);
	assert_true(opts & PCRE2_MULTILINE);
	assert_true(r[2]->op.negated);
	assert_string_equal(r[2]->op.arg.p, "^$");
	assert_int_equal(r[3]->op.nphrases, 3);
	assert_string_equal(r[3]->op.phrases[2].p, "three");
	assert_int_equal(r[4]->op.id, WAF_OP_STREQ);
	assert_int_equal(r[4]->op.marg->nsegs, 2);
	assert_true(r[5]->op.num_const);
	assert_int_equal(r[5]->op.num, -42);
	assert_false(r[6]->op.num_const);
	assert_int_equal(r[7]->op.nnets, 4);
	assert_int_equal(r[7]->op.nets[0].family, AF_INET);
	assert_int_equal(r[7]->op.nets[0].prefix, 8);
	assert_int_equal(r[7]->op.nets[1].prefix, 32);
	assert_int_equal(r[7]->op.nets[2].family, AF_INET6);
	assert_int_equal(r[7]->op.nets[2].prefix, 128);
	/* host bits cleared: 2001:db8::1/32 -> 2001:db8:: */
	assert_int_equal(r[7]->op.nets[3].addr[15], 0);
	assert_int_equal(r[7]->op.nets[3].addr[1], 0x01);
	assert_true(r[8]->op.byte_ok[9 / 8] & (1 << (9 % 8)));
	assert_true(r[8]->op.byte_ok[10 / 8] & (1 << (10 % 8)));
	assert_false(r[8]->op.byte_ok[11 / 8] & (1 << (11 % 8)));
	assert_true(r[8]->op.byte_ok[126 / 8] & (1 << (126 % 8)));
	assert_false(r[8]->op.byte_ok[127 / 8] & (1 << (127 % 8)));
	assert_int_equal(r[9]->op.id, WAF_OP_DETECT_SQLI);
	assert_int_equal(r[10]->op.id, WAF_OP_RX);
	assert_string_equal(r[10]->op.arg.p, "AbC");
	assert_null(r[11]->op.re); /* compiled per transaction */
	assert_false(r[11]->op.marg->constant);
	assert_non_null(r[12]->op.re);
	assert_int_equal(r[13]->op.id, WAF_OP_WITHIN);
	assert_non_null(r[14]->op.re); /* empty pattern matches all */
	assert_string_equal(r[15]->op.arg.p, "a\"b");
	waf_ruleset_free(rs);
}

static void operators_malformed(void **state)
{
	(void)state;
	load_fail("SecRule ARGS \"@foo bar\" \"id:1\"", "unknown_operator",
		  "unknown operator '@foo'");
	load_fail("SecRule ARGS \"@rx (a\" \"id:1\"", "bad_regex",
		  "@rx: invalid regular expression at offset 2");
	load_fail("SecRule ARGS \"@eq abc\" \"id:1\"", "bad_operator",
		  "@eq needs an integer");
	load_fail("SecRule ARGS \"@ipMatch 1.2.3.4/33\" \"id:1\"",
		  "bad_operator", "invalid address or network '1.2.3.4/33'");
	load_fail("SecRule ARGS \"@ipMatch nope\" \"id:1\"", "bad_operator",
		  "'nope'");
	load_fail("SecRule ARGS \"@validateByteRange 1-300\" \"id:1\"",
		  "bad_operator", "invalid range list");
	load_fail("SecRule ARGS \"@validateByteRange 9-1\" \"id:1\"",
		  "bad_operator", "invalid range list");
	load_fail("SecRule FILES \"@inspectFile /bin/x\" \"id:1\"",
		  "refused_operator", "never executes");
	load_fail("SecRule ARGS \"@fuzzyHash x 1\" \"id:1\"",
		  "unsupported_operator", "not supported");
	load_fail("SecRule ARGS \"@pmFromFile x.data\" \"id:1\"", "bad_path",
		  "no base directory");
	load_fail("SecRule ARGS \"@pmFromFile https://evil/x\" \"id:1\"",
		  "remote_data", "refused");
	load_fail("SecRule ARGS \"@pm\" \"id:1\"", "bad_operator",
		  "at least one phrase");
	load_fail("SecRule ARGS \"@rx %{nope}\" \"id:1\"", "bad_macro",
		  "unknown variable 'nope'");
	load_fail("SecRule ARGS \"@contains\" \"id:1\"", "bad_operator",
		  "needs a parameter");
}

static void actions_all(void **state)
{
	(void)state;
	struct waf_ruleset *rs = load(
		"SecRule ARGS \"@rx a\" \"id:7, phase:request ,block,"
		"msg:'it\\'s %{tx.0} bad',logdata:'%{MATCHED_VAR}',"
		"tag:'a',tag:b,severity:'CRITICAL',rev:'2',ver:'v1',"
		"maturity:9,accuracy:8,t:lowercase,t:none,t:urlDecodeUni,"
		"t:HTMLENTITYDECODE,capture,multiMatch,nolog,auditlog,"
		"status:418,skipAfter:END,setvar:tx.a=1,setvar:'tx.b=+%{tx.c}',"
		"setvar:tx.d=-2,setvar:!tx.e,setvar:ip.f,"
		"expirevar:ip.f=60,initcol:ip=%{remote_addr}_x,setuid:%{tx.u},"
		"setsid:s,setenv:A=b,sanitiseArg:password,sanitiseMatched,"
		"sanitizeRequestHeader:Cookie,sanitiseResponseHeader:Set-Cookie,"
		"xmlns:x=http://x/,ctl:ruleEngine=DetectionOnly,"
		"ctl:ruleRemoveById=10-20 30,ctl:ruleRemoveByTag=foo,"
		"ctl:ruleRemoveTargetById=942100;ARGS:pass[word],"
		"ctl:ruleRemoveTargetByTag=attack-sqli;REQUEST_COOKIES:/^uid$/,"
		"ctl:requestBodyProcessor=JSON,ctl:requestBodyAccess=Off,"
		"ctl:forceRequestBodyVariable=On,ctl:auditEngine=RelevantOnly,"
		"ctl:auditLogParts=+E,ctl:requestBodyLimit=1048576\"\n"
		"SecMarker END\n"
		"SecRule ARGS \"@rx a\" \"id:8,phase:3,allow:phase,skip:2\"\n"
		"SecRule ARGS \"@rx a\" \"id:9,phase:logging,"
		"redirect:'http://x/?%{REQUEST_URI}',severity:5\"\n"
		"SecAction \"id:10,phase:response,drop\"\n");
	struct waf_rule *r = rs->phase[2].rules[0];
	struct waf_actions *a = &r->act;
	assert_int_equal(a->id, 7);
	assert_int_equal(r->phase, 2);
	assert_int_equal(a->disruptive, WAF_DIS_BLOCK);
	assert_string_equal(a->msg->raw.p, "it's %{tx.0} bad");
	assert_int_equal(a->msg->nsegs, 3);
	assert_true(bw_str_eq_lit(a->msg->segs[0].text, "it's "));
	assert_int_equal(a->msg->segs[1].var, WAF_VAR_TX);
	assert_true(bw_str_eq_lit(a->msg->segs[1].key, "0"));
	assert_true(bw_str_eq_lit(a->msg->segs[2].text, " bad"));
	assert_int_equal(a->ntags, 2);
	assert_string_equal(a->tags[1]->raw.p, "b");
	assert_int_equal(a->severity, 2);
	assert_string_equal(a->rev, "2");
	assert_int_equal(a->maturity, 9);
	assert_int_equal(a->accuracy, 8);
	assert_true(a->tfn_none);
	assert_int_equal(a->ntfns, 2);
	assert_int_equal(a->tfns[0], WAF_T_URL_DECODE_UNI);
	assert_int_equal(a->tfns[1], WAF_T_HTML_ENTITY_DECODE);
	assert_true(a->capture && a->multi_match);
	assert_int_equal(a->log, WAF_FLAG_NO);
	assert_int_equal(a->auditlog, WAF_FLAG_YES);
	assert_int_equal(a->status, 418);
	assert_string_equal(a->skip_after, "END");
	assert_int_equal(r->skip_after_index, 1);
	struct waf_exec *x = a->execs;
	assert_int_equal(x[0].op, WAF_SETVAR_SET);
	assert_string_equal(x[0].value->raw.p, "1");
	assert_int_equal(x[1].op, WAF_SETVAR_ADD);
	assert_false(x[1].value->constant);
	assert_int_equal(x[2].op, WAF_SETVAR_SUB);
	assert_string_equal(x[2].value->raw.p, "2");
	assert_int_equal(x[3].op, WAF_SETVAR_DELETE);
	assert_string_equal(x[3].key->raw.p, "e");
	assert_int_equal(x[4].op, WAF_SETVAR_SET_ONE);
	assert_int_equal(x[4].col, WAF_VAR_IP);
	assert_int_equal(x[5].kind, WAF_EXEC_EXPIREVAR);
	assert_int_equal(x[6].kind, WAF_EXEC_INITCOL);
	assert_int_equal(x[6].col, WAF_VAR_IP);
	assert_int_equal(x[7].kind, WAF_EXEC_SETUID);
	assert_int_equal(x[8].kind, WAF_EXEC_SETSID);
	assert_int_equal(x[9].kind, WAF_EXEC_SETENV);
	assert_int_equal(x[10].kind, WAF_EXEC_SANITISE_ARG);
	assert_int_equal(x[11].kind, WAF_EXEC_SANITISE_MATCHED);
	assert_int_equal(x[12].kind, WAF_EXEC_SANITISE_REQUEST_HEADER);
	assert_int_equal(x[13].kind, WAF_EXEC_SANITISE_RESPONSE_HEADER);
	assert_int_equal(a->nxmlns, 1);
	struct waf_ctl *c = x[14].ctl;
	assert_int_equal(c->kind, WAF_CTL_RULE_ENGINE);
	assert_int_equal(c->engine, WAF_ENGINE_DETECTION_ONLY);
	c = x[15].ctl;
	assert_int_equal(c->kind, WAF_CTL_RULE_REMOVE_BY_ID);
	assert_int_equal(c->nids, 2);
	assert_int_equal(c->ids[0].lo, 10);
	assert_int_equal(c->ids[0].hi, 20);
	assert_int_equal(c->ids[1].lo, 30);
	assert_int_equal(x[16].ctl->kind, WAF_CTL_RULE_REMOVE_BY_TAG);
	c = x[17].ctl;
	assert_int_equal(c->kind, WAF_CTL_RULE_REMOVE_TARGET_BY_ID);
	assert_int_equal(c->ids[0].lo, 942100);
	assert_int_equal(c->target.var, WAF_VAR_ARGS);
	assert_string_equal(c->target.sel.p, "pass[word]");
	c = x[18].ctl;
	assert_int_equal(c->kind, WAF_CTL_RULE_REMOVE_TARGET_BY_TAG);
	assert_string_equal(c->str.p, "attack-sqli");
	assert_int_equal(c->target.sel_kind, WAF_SEL_REGEX);
	assert_int_equal(x[19].ctl->body, WAF_BODY_JSON);
	assert_false(x[20].ctl->on);
	assert_true(x[21].ctl->on);
	assert_int_equal(x[22].ctl->audit, WAF_AUDIT_RELEVANT_ONLY);
	assert_string_equal(x[23].ctl->str.p, "+E");
	assert_int_equal(x[24].ctl->number, 1048576);
	assert_int_equal(a->nexecs, 25);

	r = rs->phase[3].rules[1];
	assert_int_equal(r->act.disruptive, WAF_DIS_ALLOW);
	assert_int_equal(r->act.allow_scope, WAF_ALLOW_PHASE);
	assert_int_equal(r->act.skip, 2);
	r = rs->phase[5].rules[1];
	assert_int_equal(r->act.disruptive, WAF_DIS_REDIRECT);
	assert_int_equal(r->act.redirect->nsegs, 2);
	assert_int_equal(r->act.severity, 5);
	r = rs->phase[4].rules[1];
	assert_int_equal(r->kind, WAF_RULE_SECACTION);
	assert_int_equal(r->act.disruptive, WAF_DIS_DROP);
	waf_ruleset_free(rs);
}

static void actions_malformed(void **state)
{
	(void)state;
	load_fail("SecRule ARGS \"@rx a\" \"id:1,exec:/bin/sh\"",
		  "refused_action", "never executes");
	load_fail("SecRule ARGS \"@rx a\" \"id:1,frobnicate\"",
		  "unknown_action", "unknown action 'frobnicate'");
	load_fail("SecRule ARGS \"@rx a\" \"id:1,proxy:http://x\"",
		  "unsupported_action", "'proxy' is not supported");
	load_fail("SecRule ARGS \"@rx a\" \"id:0\"", "bad_id",
		  "positive integer");
	load_fail("SecRule ARGS \"@rx a\" \"id:12x\"", "bad_id", "'12x'");
	load_fail("SecRule ARGS \"@rx a\" \"id:1,phase:0\"", "bad_phase",
		  "invalid phase '0'");
	load_fail("SecRule ARGS \"@rx a\" \"id:1,phase:6\"", "bad_phase",
		  "invalid phase '6'");
	load_fail("SecRule ARGS \"@rx a\" \"id:1,severity:LOUD\"",
		  "bad_severity", "'LOUD'");
	load_fail("SecRule ARGS \"@rx a\" \"id:1,t:rot13\"",
		  "unknown_transformation", "'t:rot13'");
	load_fail("SecRule ARGS \"@rx a\" \"id:1,msg:'open\"",
		  "bad_action", "unterminated quote");
	load_fail("SecRule ARGS \"@rx a\" \"id:1,msg:'a'b\"", "bad_action",
		  "unexpected text after quoted value");
	load_fail("SecRule ARGS \"@rx a\" \"id:1,status:99\"", "bad_status",
		  "100-599");
	load_fail("SecRule ARGS \"@rx a\" \"id:1,skip:0\"", "bad_value",
		  "positive count");
	load_fail("SecRule ARGS \"@rx a\" \"id:1,allow:everything\"",
		  "bad_value", "allow:");
	load_fail("SecRule ARGS \"@rx a\" \"id:1,setvar:tx.a=+\"",
		  "bad_setvar", "missing number");
	load_fail("SecRule ARGS \"@rx a\" \"id:1,setvar:args.a=1\"",
		  "bad_collection", "not a writable collection");
	load_fail("SecRule ARGS \"@rx a\" \"id:1,setvar:tx\"",
		  "bad_collection", "missing variable name");
	load_fail("SecRule ARGS \"@rx a\" \"id:1,initcol:tx=x\"",
		  "bad_initcol", "not a persistent");
	load_fail("SecRule ARGS \"@rx a\" \"id:1,expirevar:ip.x\"",
		  "bad_expirevar", "col.name=seconds");
	load_fail("SecRule ARGS \"@rx a\" \"id:1,ctl:ruleEngine=Maybe\"",
		  "bad_ctl", "ruleEngine");
	load_fail("SecRule ARGS \"@rx a\" \"id:1,ctl:fooBar=1\"", "bad_ctl",
		  "unknown ctl option 'fooBar'");
	load_fail("SecRule ARGS \"@rx a\" \"id:1,ctl:ruleRemoveTargetById=5\"",
		  "bad_ctl", "WHICH;TARGET");
	load_fail("SecRule ARGS \"@rx a\" \"id:1,ctl:ruleRemoveById=9-1\"",
		  "bad_id_range", "'9-1'");
	load_fail("SecRule ARGS \"@rx a\" \"id:1,ctl:auditLogParts=+Q\"",
		  "bad_ctl", "invalid part 'Q'");
	load_fail("SecRule ARGS \"@rx a\" \"id:1,tag\"", "missing_value",
		  "'tag' needs a value");
	load_fail("SecRule ARGS \"@rx a\" \"id:1,msg:'%{tx.}'\"", "bad_macro",
		  "empty key");
	load_fail("SecRule ARGS \"@rx a\" \"id:1,msg:'%{REQUEST_URI.x}'\"",
		  "bad_macro", "not a collection");
	load_fail("SecRule ARGS \"@rx a\" \"id:1,nolog phase:2\"",
		  "bad_action", "expected ',' or ':' after action 'nolog'");
	load_fail("SecRule ARGS \"@rx a\" \"id:1 phase:2\"", "bad_id",
		  "'1 phase:2'");
}

static void macro_segments(void **state)
{
	(void)state;
	struct waf_ruleset *rs = load(
		"SecAction \"id:1,setvar:'tx.%{rule.id}-X-%{MATCHED_VAR_NAME}"
		"=%{tx.0}',msg:'100%% %{ not a ref',logdata:'%{request_headers"
		".host}'\"");
	struct waf_rule *r = first(rs);
	struct waf_macro *k = r->act.execs[0].key;
	assert_int_equal(k->nsegs, 3);
	assert_int_equal(k->segs[0].kind, WAF_SEG_VAR);
	assert_int_equal(k->segs[0].var, WAF_VAR_RULE);
	assert_true(bw_str_eq_lit(k->segs[0].key, "id"));
	assert_true(bw_str_eq_lit(k->segs[1].text, "-X-"));
	assert_int_equal(k->segs[2].var, WAF_VAR_MATCHED_VAR_NAME);
	assert_int_equal(k->segs[2].key.len, 0);
	/* '%{' without a closing brace is literal text */
	assert_true(r->act.msg->constant);
	assert_int_equal(r->act.msg->nsegs, 1);
	assert_int_equal(r->act.logdata->segs[0].var, WAF_VAR_REQUEST_HEADERS);
	assert_true(bw_str_eq_lit(r->act.logdata->segs[0].key, "host"));
	waf_ruleset_free(rs);
}

int main(void)
{
	log_set_level(BW_LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(targets_all_forms),
		cmocka_unit_test(targets_malformed),
		cmocka_unit_test(operators_parse),
		cmocka_unit_test(operators_malformed),
		cmocka_unit_test(actions_all),
		cmocka_unit_test(actions_malformed),
		cmocka_unit_test(macro_segments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
