/*
 * Unit tests for directives: the line lexer (continuations, comments,
 * quoting), engine settings, SecDefaultAction inheritance as ModSecurity
 * v3 applies it, chains, duplicate ids, skipAfter, the removal and update
 * directives, Include with globs and relative paths, data files, and the
 * limits of waf_limits.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "waf/waf_int.h"

static struct waf_ruleset *load_opts(const char *text,
				     const struct waf_load_opts *o)
{
	struct waf_ruleset *rs = NULL;
	struct bw_err err = { 0 };
	if (waf_ruleset_load_buffer("t.conf", text, strlen(text), o, &rs,
				    &err) != 0)
		fail_msg("load failed: %s (%s)", err.msg, err.reason);
	return rs;
}

static struct waf_ruleset *load(const char *text)
{
	return load_opts(text, NULL);
}

static void load_fail_opts(const char *text, const struct waf_load_opts *o,
			   const char *reason, const char *want)
{
	struct waf_ruleset *rs = NULL;
	struct bw_err err = { 0 };
	int rc = waf_ruleset_load_buffer("t.conf", text, strlen(text), o, &rs,
					 &err);
	if (rc == 0)
		fail_msg("load of <%s> succeeded, wanted %s", text, reason);
	assert_null(rs);
	if (strcmp(err.reason, reason) != 0 || !strstr(err.msg, want))
		fail_msg("got %s: '%s', want %s: '...%s...'", err.reason,
			 err.msg, reason, want);
}

static void load_fail(const char *text, const char *reason, const char *want)
{
	load_fail_opts(text, NULL, reason, want);
}

static struct waf_rule *find_id(struct waf_ruleset *rs, uint64_t id)
{
	for (int ph = 1; ph <= 5; ph++)
		for (size_t i = 0; i < rs->phase[ph].n; i++) {
			struct waf_rule *r = rs->phase[ph].rules[i];
			if (r->kind != WAF_RULE_MARKER && r->act.id == id)
				return r;
		}
	return NULL;
}

/* The rule with this id, which must exist. */
static struct waf_rule *by_id(struct waf_ruleset *rs, uint64_t id)
{
	struct waf_rule *r = find_id(rs, id);
	if (!r) {
		fail_msg("no rule %llu", (unsigned long long)id);
		abort();
	}
	return r;
}

/* ------------------------------------------------------------- lexer */

static void lexer_continuations_comments_quotes(void **state)
{
	(void)state;
	struct waf_ruleset *rs = load(
		"# a comment ending in a backslash \\\n"
		"SecRule ARGS \"@rx a\" \"id:1\"\n"
		"\n   \t\n"
		"  # indented comment\n"
		"SecRule ARGS \\\n"
		"    \"@rx b\" \\\n"
		"    \"id:2,\\\n"
		"    phase:2,\\\n"
		"    msg:'two lines'\"   # trailing comment\r\n"
		"secrule ARGS 'single quoted' 'id:3'\n"
		"SecRule ARGS \"@rx \\\\d\\\"x\" \"id:4\"\n"
		"SecRule ARGS \"@rx a\\\\\" \"id:5\"\n"
		"SecRule ARGS ^abc \"id:6\"\n"
		"SecAction \"id:7\" \\");
	assert_int_equal(waf_ruleset_rule_count(rs, 1), 6);
	assert_int_equal(waf_ruleset_rule_count(rs, 2), 1);
	struct waf_rule *r = by_id(rs, 2);
	assert_int_equal(r->line, 6);
	assert_string_equal(r->act.msg->raw.p, "two lines");
	assert_string_equal(by_id(rs, 3)->op.arg.p, "single quoted");
	/* \" unescapes, other backslashes stay for the regex */
	assert_string_equal(by_id(rs, 4)->op.arg.p, "\\\\d\"x");
	assert_string_equal(by_id(rs, 5)->op.arg.p, "a\\\\");
	/* unquoted operator argument runs to the next blank */
	assert_int_equal(by_id(rs, 6)->op.id, WAF_OP_RX);
	assert_string_equal(by_id(rs, 6)->op.arg.p, "^abc");
	waf_ruleset_free(rs);
}

static void lexer_malformed(void **state)
{
	(void)state;
	load_fail("\n\nSecFrobnicate On\n", "unknown_directive",
		  "t.conf:3: unknown directive 'SecFrobnicate'");
	load_fail("SecRule ARGS \"@rx a\n", "unterminated_quote",
		  "t.conf:1: SecRule: unterminated double-quoted argument 2");
	load_fail("SecRule ARGS \"@rx a\"b \"id:1\"", "bad_quote",
		  "text directly after the closing quote");
	load_fail("SecRule ARGS", "bad_arg_count",
		  "SecRule takes 2 to 3 arguments, got 1");
	load_fail("SecAction", "bad_arg_count", "SecAction takes 1 argument");
	load_fail("SecMarker a b", "bad_arg_count", "SecMarker takes 1");
	const char nul[] = "SecAction \"id:1\"\nSecA\0ction";
	struct waf_ruleset *rs = NULL;
	struct bw_err err = { 0 };
	assert_int_equal(waf_ruleset_load_buffer("t.conf", nul, sizeof(nul) - 1,
						 NULL, &rs, &err),
			 -1);
	assert_string_equal(err.reason, "nul_byte");
	assert_non_null(strstr(err.msg, "t.conf:2:"));
	load_fail("SecRuleScript /x.lua", "refused_directive", "never executes");
	load_fail("SecRemoteRules k https://x/r.conf", "refused_directive",
		  "local files");
}

/* ---------------------------------------------------------- settings */

static void settings_directives(void **state)
{
	(void)state;
	struct waf_ruleset *rs = load(
		"SecRuleEngine DetectionOnly\n"
		"SecRequestBodyAccess On\n"
		"SecResponseBodyAccess on\n"
		"SecRequestBodyLimit 13107200\n"
		"SecRequestBodyNoFilesLimit 131072\n"
		"SecRequestBodyInMemoryLimit 131072\n"
		"SecRequestBodyLimitAction ProcessPartial\n"
		"SecRequestBodyJsonDepthLimit 512\n"
		"SecArgumentsLimit 1000\n"
		"SecPcreMatchLimit 1000\n"
		"SecPcreMatchLimitRecursion 1000\n"
		"SecResponseBodyMimeType text/plain \"text/html text/xml\"\n"
		"SecResponseBodyLimit 524288\n"
		"SecResponseBodyLimitAction Reject\n"
		"SecTmpDir /tmp/\nSecDataDir /var/cache/modsecurity\n"
		"SecUploadDir /tmp\nSecUploadKeepFiles RelevantOnly\n"
		"SecUploadFileMode 0640\n"
		"SecAuditEngine RelevantOnly\nSecAuditLog /var/log/a.log\n"
		"SecAuditLogParts ABIJDEFHZ\nSecAuditLogType Serial\n"
		"SecAuditLogRelevantStatus \"^(?:5|4(?!04))\"\n"
		"SecAuditLogStorageDir /var/log/audit\nSecAuditLogFormat JSON\n"
		"SecDebugLog /var/log/debug.log\nSecDebugLogLevel 3\n"
		"SecComponentSignature \"x/1\"\nSecComponentSignature y/2\n"
		"SecCollectionTimeout 600\n"
		"SecUnicodeMapFile /etc/unicode.mapping 20127\n"
		"SecArgumentSeparator ;\nSecCookieFormat 1\n"
		"SecStatusEngine Off\nSecGeoLookupDb /usr/share/GeoIP/x.dat\n"
		"SecHttpBlKey abcdefghijkl\n");
	const struct waf_settings *s = waf_ruleset_settings(rs);
	assert_int_equal(s->rule_engine, WAF_ENGINE_DETECTION_ONLY);
	assert_true(s->request_body_access && s->response_body_access);
	assert_int_equal(s->request_body_limit, 13107200);
	assert_int_equal(s->request_body_no_files_limit, 131072);
	assert_int_equal(s->request_body_limit_action,
			 WAF_LIMIT_PROCESS_PARTIAL);
	assert_int_equal(s->request_body_json_depth_limit, 512);
	assert_int_equal(s->pcre_match_limit_recursion, 1000);
	assert_int_equal(s->n_response_body_mime_types, 3);
	assert_string_equal(s->response_body_mime_types[2], "text/xml");
	assert_null(s->response_body_mime_types[3]);
	assert_string_equal(s->data_dir, "/var/cache/modsecurity");
	assert_int_equal(s->upload_keep_files, WAF_ON);
	assert_int_equal(s->upload_file_mode, 0640);
	assert_int_equal(s->audit_engine, WAF_AUDIT_RELEVANT_ONLY);
	assert_string_equal(s->audit_log_parts, "ABIJDEFHZ");
	assert_int_equal(s->debug_log_level, 3);
	assert_int_equal(s->n_component_signatures, 2);
	assert_int_equal(s->collection_timeout, 600);
	assert_int_equal(s->unicode_code_point, 20127);
	assert_int_equal(s->argument_separator, ';');
	assert_int_equal(s->cookie_format, 1);
	assert_string_equal(s->http_bl_key, "abcdefghijkl");
	waf_ruleset_free(rs);

	load_fail("SecRuleEngine Maybe", "bad_value", "DetectionOnly");
	load_fail("SecRequestBodyLimit -1", "bad_value", "non-negative");
	load_fail("SecRequestBodyLimitAction Drop", "bad_value",
		  "ProcessPartial");
	load_fail("SecUploadFileMode 0999", "bad_value", "octal");
	load_fail("SecAuditLogParts ABQ", "bad_value", "invalid part 'Q'");
	load_fail("SecAuditLogRelevantStatus \"(\"", "bad_regex",
		  "SecAuditLogRelevantStatus");
	load_fail("SecDebugLogLevel 10", "bad_value", "0-9");
	load_fail("SecArgumentSeparator &&", "bad_value", "single character");
	load_fail("SecRequestBodyAccess", "bad_arg_count", "1 argument");
}

/* ---------------------------------------------------------- defaults */

static void defaults_block_inherits_disruptive(void **state)
{
	(void)state;
	struct waf_ruleset *rs = load(
		"SecRule ARGS \"@rx early\" \"id:1,phase:2,block\"\n"
		"SecDefaultAction \"phase:2,log,auditlog,deny,status:403,"
		"t:lowercase,tag:'dflt',setvar:tx.d=1\"\n"
		"SecRule ARGS \"@rx a\" \"id:2,phase:2,block,t:urlDecode\"\n"
		"SecRule ARGS \"@rx a\" \"id:3,phase:2\"\n"
		"SecRule ARGS \"@rx a\" \"id:4,phase:2,block,status:418,"
		"t:none,t:trim,tag:own\"\n"
		"SecRule ARGS \"@rx a\" \"id:5,phase:2,pass,nolog\"\n"
		"SecRule ARGS \"@rx a\" \"id:6,phase:2,block,nolog,auditlog\"\n"
		"SecRule ARGS \"@rx a\" \"id:7,phase:3,block\"\n"
		"SecRule ARGS \"@rx a\" \"id:8,phase:2,chain\"\n"
		"  SecRule ARGS \"@rx b\" \"t:trim\"\n");
	struct waf_rule *r = by_id(rs, 2);
	assert_int_equal(r->eff.disruptive, WAF_DIS_DENY);
	assert_int_equal(r->eff.status, 403);
	assert_int_equal(r->eff.ntfns, 2);
	assert_int_equal(r->eff.tfns[0], WAF_T_LOWERCASE);
	assert_int_equal(r->eff.tfns[1], WAF_T_URL_DECODE);
	assert_int_equal(r->eff.ntags, 1);
	assert_int_equal(r->eff.nexecs, 1);
	/* v3 looks defaults up at run time, so an earlier rule gets them */
	assert_int_equal(by_id(rs, 1)->eff.disruptive, WAF_DIS_DENY);
	/* v3: without block the default's disruptive action is ignored */
	r = by_id(rs, 3);
	assert_int_equal(r->eff.disruptive, WAF_DIS_PASS);
	assert_int_equal(r->eff.ntfns, 1); /* t: still inherited */
	r = by_id(rs, 4);
	assert_int_equal(r->eff.disruptive, WAF_DIS_DENY);
	assert_int_equal(r->eff.status, 418);
	assert_int_equal(r->eff.ntfns, 1); /* t:none dropped the default's */
	assert_int_equal(r->eff.tfns[0], WAF_T_TRIM);
	assert_int_equal(r->eff.ntags, 2);
	assert_string_equal(r->eff.tags[0]->raw.p, "dflt");
	r = by_id(rs, 5);
	assert_false(r->eff.log);
	assert_false(r->eff.auditlog); /* nolog implies noauditlog */
	r = by_id(rs, 6);
	assert_false(r->eff.log);
	assert_true(r->eff.auditlog);
	assert_int_equal(r->eff.disruptive, WAF_DIS_DENY);
	/* no default for phase 3: block does nothing disruptive */
	r = by_id(rs, 7);
	assert_int_equal(r->eff.disruptive, WAF_DIS_PASS);
	assert_true(r->eff.log);
	/* chain links inherit only transformations */
	r = by_id(rs, 8)->chain_next;
	assert_int_equal(r->eff.ntfns, 2);
	assert_int_equal(r->eff.nexecs, 0);
	waf_ruleset_free(rs);
}

static void defaults_malformed(void **state)
{
	(void)state;
	load_fail("SecDefaultAction \"phase:2,log,pass\"\n"
		  "SecDefaultAction \"phase:2,nolog,deny\"",
		  "duplicate_default_action",
		  "t.conf:2: SecDefaultAction for phase 2 was already given "
		  "at t.conf:1");
	/* no phase means phase 1, as in v3 */
	load_fail("SecDefaultAction \"log,deny\"\n"
		  "SecDefaultAction \"phase:1,log,pass\"",
		  "duplicate_default_action", "phase 1");
	load_fail("SecDefaultAction \"phase:2,id:5,deny\"",
		  "bad_default_action", "'id' is not suitable");
	load_fail("SecDefaultAction \"phase:2,t:none,deny\"",
		  "bad_default_action", "'t:none'");
	load_fail("SecDefaultAction \"phase:2,log\"", "bad_default_action",
		  "must specify a disruptive action");
	load_fail("SecDefaultAction \"phase:2,block\"", "bad_default_action",
		  "other than block");
}

/* ------------------------------------------------- chains, ids, skip */

static void chains(void **state)
{
	(void)state;
	struct waf_ruleset *rs = load(
		"SecRule ARGS \"@rx a\" \"id:1,phase:3,deny,chain\"\n"
		"  SecRule ARGS \"@rx b\" \"chain\"\n"
		"  SecRule ARGS \"@rx c\" \"setvar:tx.x=1\"\n"
		"SecRule ARGS \"@rx d\" \"id:2,phase:3\"\n"
		"SecRule ARGS \"@rx a\" \"id:3\"\n");
	assert_int_equal(waf_ruleset_rule_count(rs, 3), 2);
	assert_int_equal(rs->nrules, 5);
	struct waf_rule *r = by_id(rs, 1);
	assert_non_null(r->chain_next);
	assert_non_null(r->chain_next->chain_next);
	assert_null(r->chain_next->chain_next->chain_next);
	assert_int_equal(r->chain_next->chain_next->phase, 3);
	assert_ptr_equal(r->chain_next->chain_next->chain_start, r);
	/* no phase: action means phase 1, as in v3 */
	assert_int_equal(by_id(rs, 3)->phase, 1);
	waf_ruleset_free(rs);

	load_fail("SecRule ARGS \"@rx a\" \"id:1,chain\"\n\n",
		  "chain_without_rule", "rule 1 (line 1) ends with 'chain'");
	load_fail("SecRule ARGS \"@rx a\" \"id:1,chain\"\nSecAction \"id:2\"",
		  "chain_broken", "t.conf:2: rule 1 ends with 'chain' but is "
				  "followed by SecAction");
	load_fail("SecRule ARGS \"@rx a\" \"id:1,chain\"\nSecMarker X",
		  "chain_broken", "followed by SecMarker");
	load_fail("SecRule ARGS \"@rx a\" \"id:1,chain\"\n"
		  "SecRule ARGS \"@rx a\" \"deny\"",
		  "chain_disruptive", "t.conf:2: disruptive actions can only");
	load_fail("SecRule ARGS \"@rx a\" \"id:1,chain\"\n"
		  "SecRule ARGS \"@rx a\" \"id:2\"",
		  "chain_id", "cannot have an id");
	load_fail("SecRule ARGS \"@rx a\" \"id:1,chain\"\n"
		  "SecRule ARGS \"@rx a\" \"phase:2\"",
		  "chain_phase", "cannot set the phase");
	load_fail("SecRule ARGS \"@rx a\" \"id:1,chain\"\n"
		  "SecRule ARGS \"@rx a\" \"skipAfter:X\"",
		  "chain_skip", "chain starter");
}

static void ids_and_markers(void **state)
{
	(void)state;
	load_fail("SecRule ARGS \"@rx a\" \"id:7\"\n"
		  "SecAction \"id:7,phase:2\"",
		  "duplicate_id", "t.conf:2: duplicate rule id 7");
	load_fail("SecRule ARGS \"@rx a\" \"phase:2\"", "missing_id",
		  "rule has no id");
	struct waf_ruleset *rs = load(
		"SecRule ARGS \"@rx a\" \"id:1,phase:2,skipAfter:M\"\n"
		"SecRule ARGS \"@rx a\" \"id:2,phase:2,skipAfter:GONE\"\n"
		"SecMarker M\n"
		"SecRule ARGS \"@rx a\" \"id:3,phase:2,skipAfter:M\"\n"
		"SecMarker 'M'\n");
	struct waf_phase_rules *pr = &rs->phase[2];
	assert_int_equal(pr->n, 5);
	assert_int_equal(by_id(rs, 1)->skip_after_index, 2);
	/* missing marker: tolerated like ModSecurity, skips to the end */
	assert_int_equal(by_id(rs, 2)->skip_after_index, 5);
	/* only markers after the rule count */
	assert_int_equal(by_id(rs, 3)->skip_after_index, 4);
	assert_int_equal(waf_ruleset_marker_count(rs), 2);
	assert_int_equal(rs->phase[4].n, 2); /* markers are in all phases */
	waf_ruleset_free(rs);
}

/* ---------------------------------------------------- remove, update */

static void remove_directives(void **state)
{
	(void)state;
	struct waf_ruleset *rs = load(
		"SecRule ARGS \"@rx a\" \"id:10,tag:'attack-x',msg:'m1'\"\n"
		"SecRule ARGS \"@rx a\" \"id:11,phase:2,tag:'attack-x'\"\n"
		"SecRule ARGS \"@rx a\" \"id:12,phase:2,msg:'drop me',chain\"\n"
		"  SecRule ARGS \"@rx b\" \"t:none\"\n"
		"SecRule ARGS \"@rx a\" \"id:13\"\n"
		"SecRule ARGS \"@rx a\" \"id:14\"\n"
		"SecRule ARGS \"@rx a\" \"id:20\"\n"
		"SecRuleRemoveByTag attack-x\n"
		"SecRuleRemoveByMsg 'drop me'\n"
		"SecRuleRemoveById 13 \"14-15\" 999\n"
		"SecRuleRemoveById 30\n"
		"SecRule ARGS \"@rx a\" \"id:30\"\n"
		"SecRule ARGS \"@rx a\" \"id:13,phase:3\"\n");
	assert_null(find_id(rs, 10));
	assert_null(find_id(rs, 11));
	assert_null(find_id(rs, 12));
	assert_null(find_id(rs, 14));
	assert_non_null(find_id(rs, 20));
	/* removal applies to rules defined before it only */
	assert_non_null(find_id(rs, 30));
	/* a removed id may be defined again */
	assert_int_equal(by_id(rs, 13)->phase, 3);
	assert_int_equal(waf_ruleset_rule_count(rs, 1), 2);
	assert_int_equal(waf_ruleset_rule_count(rs, 2), 0);
	assert_int_equal(rs->nrules, 3);
	waf_ruleset_free(rs);
	load_fail("SecRuleRemoveById abc", "bad_id_range", "'abc'");
	load_fail("SecRuleRemoveById", "bad_arg_count", "needs an argument");
}

static void update_directives(void **state)
{
	(void)state;
	struct waf_ruleset *rs = load(
		"SecRule ARGS|REQUEST_HEADERS:Host \"@rx a\" \"id:1,phase:2,"
		"block,t:lowercase,tag:'t1',msg:'old',setvar:tx.a=1\"\n"
		"SecRule ARGS \"@rx a\" \"id:2,phase:2,tag:'t1'\"\n"
		"SecRule ARGS \"@rx a\" \"id:3,phase:2\"\n"
		"SecRuleUpdateTargetById 1 \"!ARGS:foo|!ARGS:/^bar/\"\n"
		"SecRuleUpdateTargetById 1 REQUEST_HEADERS:X-Y "
		"REQUEST_HEADERS:Host\n"
		"SecRuleUpdateTargetByTag t1 !REQUEST_COOKIES:sess\n"
		"SecRuleUpdateActionById 1 \"deny,status:404,msg:'new',"
		"t:urlDecode,tag:t2,setvar:tx.b=2,nolog\"\n"
		"SecRuleUpdateActionById 2 \"t:none,t:trim\"\n");
	struct waf_rule *r = by_id(rs, 1);
	assert_int_equal(r->ntargets, 5);
	assert_int_equal(r->targets[1].var, WAF_VAR_REQUEST_HEADERS);
	assert_string_equal(r->targets[1].sel.p, "X-Y"); /* replaced Host */
	assert_true(r->targets[2].exclude);
	assert_int_equal(r->targets[3].sel_kind, WAF_SEL_REGEX);
	assert_string_equal(r->targets[4].sel.p, "sess");
	assert_int_equal(r->act.disruptive, WAF_DIS_DENY);
	assert_int_equal(r->eff.status, 404);
	assert_string_equal(r->act.msg->raw.p, "new");
	assert_int_equal(r->act.ntfns, 2);
	assert_int_equal(r->act.tfns[1], WAF_T_URL_DECODE);
	assert_int_equal(r->act.ntags, 2);
	assert_int_equal(r->act.nexecs, 2);
	assert_false(r->eff.log);
	r = by_id(rs, 2);
	assert_int_equal(r->ntargets, 2);
	assert_true(r->act.tfn_none);
	assert_int_equal(r->act.ntfns, 1);
	assert_int_equal(by_id(rs, 3)->ntargets, 1);
	waf_ruleset_free(rs);

	load_fail("SecRuleUpdateTargetById 5 ARGS", "rule_not_found",
		  "no rule with id 5 is defined before this line");
	load_fail("SecRule ARGS \"@rx a\" \"id:1\"\n"
		  "SecRuleUpdateTargetById 1 ARGS:x REQUEST_URI",
		  "target_not_found", "rule 1 has no target REQUEST_URI");
	load_fail("SecRule ARGS \"@rx a\" \"id:1\"\n"
		  "SecRuleUpdateActionById 1 \"phase:3\"",
		  "bad_update", "cannot change id, phase or chain");
	load_fail("SecRuleUpdateActionById 1 \"deny\"", "rule_not_found",
		  "no rule with id 1");
	load_fail("SecRule ARGS \"@rx a\" \"id:1\"\n"
		  "SecRuleUpdateTargetById 1 NOPE",
		  "unknown_variable", "t.conf:2: unknown variable 'NOPE'");
}

/* ------------------------------------------------ include, data files */

static char dir[64];

static void write_file(const char *name, const char *text)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int files_setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/waf_test_XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	char sub[128];
	snprintf(sub, sizeof(sub), "%s/rules", dir);
	if (mkdir(sub, 0700) != 0)
		return -1;
	write_file("main.conf",
		   "SecRuleEngine On\n"
		   "Include rules/*.conf\n"
		   "IncludeOptional rules/none-*.conf\n"
		   "IncludeOptional /nonexistent/x.conf\n"
		   "IncludeOptional /nonexistent/*.conf\n");
	write_file("rules/a.conf",
		   "SecRule ARGS \"@pmFromFile words.data more.data\" "
		   "\"id:1,phase:2\"\n"
		   "SecRule REMOTE_ADDR \"@ipMatchFromFile nets.data\" "
		   "\"id:2\"\n");
	write_file("rules/b.conf", "SecAction \"id:3\"\nSecMarker B\n");
	write_file("rules/words.data",
		   "# comment\n\nunion select\r\n  # indented comment\n"
		   "drop table\n");
	write_file("rules/more.data", "sleep(\n");
	write_file("rules/nets.data", "10.0.0.0/8\n# x\n ::1 \n");
	write_file("bad.conf", "SecAction \"id:1\"\nSecRule ARGS\n");
	write_file("loop.conf", "Include loop.conf\n");
	write_file("missing.conf", "Include nothere.conf\n");
	write_file("missingglob.conf", "Include /nonexistent/*.conf\n");
	write_file("baddata.conf",
		   "SecRule REMOTE_ADDR \"@ipMatchFromFile rules/words.data\" "
		   "\"id:1\"\n");
	write_file("chainend.conf", "SecRule ARGS \"@rx a\" \"id:9,chain\"\n");
	return 0;
}

static int files_teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void include_and_data_files(void **state)
{
	(void)state;
	char path[256];
	snprintf(path, sizeof(path), "%s/main.conf", dir);
	const char *paths[] = { path };
	struct waf_ruleset *rs = NULL;
	struct bw_err err = { 0 };
	if (waf_ruleset_load(paths, 1, NULL, &rs, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(waf_ruleset_settings(rs)->rule_engine, WAF_ENGINE_ON);
	struct waf_rule *r = by_id(rs, 1);
	assert_non_null(r);
	assert_int_equal(r->op.nfiles, 2);
	assert_non_null(strstr(r->op.files[0], "/rules/words.data"));
	assert_int_equal(r->op.nphrases, 3);
	assert_string_equal(r->op.phrases[0].p, "union select");
	assert_string_equal(r->op.phrases[2].p, "sleep(");
	r = by_id(rs, 2);
	assert_int_equal(r->op.nnets, 2);
	assert_non_null(find_id(rs, 3));
	assert_int_equal(waf_ruleset_marker_count(rs), 1);
	assert_non_null(strstr(r->file, "/rules/a.conf"));
	waf_ruleset_free(rs);
}

static void load_file_fail(const char *name, const char *reason,
			   const char *want)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	const char *paths[] = { path };
	struct waf_ruleset *rs = NULL;
	struct bw_err err = { 0 };
	assert_int_equal(waf_ruleset_load(paths, 1, NULL, &rs, &err), -1);
	assert_null(rs);
	if (strcmp(err.reason, reason) != 0 || !strstr(err.msg, want))
		fail_msg("got %s: '%s', want %s: '%s'", err.reason, err.msg,
			 reason, want);
}

static void include_malformed(void **state)
{
	(void)state;
	load_file_fail("bad.conf", "bad_arg_count", "/bad.conf:2: SecRule");
	load_file_fail("loop.conf", "include_depth", "deeper than 8");
	load_file_fail("missing.conf", "include_missing", "cannot open");
	load_file_fail("missingglob.conf", "include_missing",
		       "no file matches '/nonexistent/*.conf'");
	load_file_fail("baddata.conf", "bad_data",
		       "words.data:3: invalid address or network 'union "
		       "select'");
	load_file_fail("chainend.conf", "chain_without_rule",
		       "chainend.conf:1: rule 9");
	load_file_fail("nonexistent.conf", "rule_file", "cannot read");
	struct waf_load_opts o = { .no_include = true };
	load_fail_opts("Include x.conf", &o, "include_refused", "not allowed");
}

/* ------------------------------------------------------------ limits */

static void limits_enforced(void **state)
{
	(void)state;
	struct waf_load_opts o = { .line_max = 32 };
	load_fail_opts("SecRule ARGS \"@rx aaaaaaaaaaaa\" \\\n \"id:1\"\n", &o,
		       "line_too_long", "t.conf:1: logical line longer than 32");
	o = (struct waf_load_opts){ .rules_max = 2 };
	load_fail_opts("SecAction \"id:1\"\nSecAction \"id:2\"\n"
		       "SecAction \"id:3\"\n",
		       &o, "too_many_rules", "t.conf:3: more than 2 rules");
	o = (struct waf_load_opts){ .regex_max = 4 };
	load_fail_opts("SecRule ARGS \"@rx abcde\" \"id:1\"", &o,
		       "regex_too_long", "5 bytes exceeds the limit of 4");
	o = (struct waf_load_opts){ .rules_max = WAF_RULES_MAX_HARD + 1 };
	load_fail_opts("", &o, "limit_too_high", "rules_max");
	o = (struct waf_load_opts){ .arena_max = 256 << 10 };
	struct bw_buf big;
	bw_buf_init(&big, 1 << 22);
	for (int i = 1; i <= 2000; i++)
		assert_int_equal(bw_buf_printf(&big,
					       "SecRule ARGS \"@pm a b c d\" "
					       "\"id:%d,msg:'xxxxxxxxxxxxxxx'\"\n",
					       i),
				 0);
	load_fail_opts(big.data, &o, "out_of_memory", "memory limit");
	bw_buf_fini(&big);
	/* an empty rule set is valid */
	struct waf_ruleset *rs = load("");
	assert_int_equal(waf_ruleset_rule_count(rs, 2), 0);
	assert_int_equal(waf_ruleset_rule_count(rs, 9), 0);
	waf_ruleset_free(rs);
	waf_ruleset_free(NULL);
}

int main(void)
{
	log_set_level(BW_LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lexer_continuations_comments_quotes),
		cmocka_unit_test(lexer_malformed),
		cmocka_unit_test(settings_directives),
		cmocka_unit_test(defaults_block_inherits_disruptive),
		cmocka_unit_test(defaults_malformed),
		cmocka_unit_test(chains),
		cmocka_unit_test(ids_and_markers),
		cmocka_unit_test(remove_directives),
		cmocka_unit_test(update_directives),
		cmocka_unit_test_setup_teardown(include_and_data_files,
						files_setup, files_teardown),
		cmocka_unit_test_setup_teardown(include_malformed, files_setup,
						files_teardown),
		cmocka_unit_test(limits_enforced),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
